package chdb

import "testing"

// BenchmarkSession is the cost of a fresh engine session (connect + close),
// which the HTTP endpoint pays once per request.
func BenchmarkSession(b *testing.B) {
	e := engine(b)
	for b.Loop() {
		c, err := e.Session()
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkQuerySelect1 is the cost of a trivial query on an open session.
func BenchmarkQuerySelect1(b *testing.B) {
	e := engine(b)
	c, err := e.Session()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		r, err := c.Query("SELECT 1", "TSV", nil)
		if err != nil {
			b.Fatal(err)
		}
		r.Free()
	}
}
