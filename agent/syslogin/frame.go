package syslogin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrFraming is the error of a TCP stream that cannot be framed (an
// octet count that is not a number): the connection is closed.
var ErrFraming = errors.New("syslog framing")

// FrameReader cuts a TCP syslog stream into messages. Each message is
// framed on its own (RFC 6587): one that starts with a digit is octet
// counted (`<length> <message>`, RFC 5425), any other ends at a newline
// (non-transparent framing, what most legacy senders do).
type FrameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewFrameReader reads r; messages longer than max are cut to max.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Buffered reports whether more input is already read (the next Next
// will not wait for the network).
func (f *FrameReader) Buffered() bool { return f.r.Buffered() > 0 }

// Next returns the next message (valid until the next call), whether it
// was cut, and io.EOF at the end of the stream between messages.
func (f *FrameReader) Next() (msg []byte, cut bool, err error) {
	for {
		b, err := f.r.Peek(1)
		if err != nil {
			return nil, false, err
		}
		switch {
		case b[0] >= '1' && b[0] <= '9':
			return f.octetCounted()
		case b[0] == '\n' || b[0] == '\r' || b[0] == 0:
			// blank lines and NUL trailers between messages
			_, _ = f.r.ReadByte()
			continue
		default:
			return f.line()
		}
	}
}

func (f *FrameReader) octetCounted() ([]byte, bool, error) {
	n := 0
	for digits := 0; ; digits++ {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, false, unexpected(err)
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' || digits >= 9 {
			return nil, false, fmt.Errorf("%w: an octet count is digits and a space", ErrFraming)
		}
		n = n*10 + int(c-'0')
	}
	keep := min(n, f.max)
	if cap(f.buf) < keep {
		f.buf = make([]byte, keep)
	}
	f.buf = f.buf[:keep]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return nil, false, unexpected(err)
	}
	if _, err := f.r.Discard(n - keep); err != nil {
		return nil, false, unexpected(err)
	}
	return trimNewline(f.buf), n > keep, nil
}

func (f *FrameReader) line() ([]byte, bool, error) {
	f.buf = f.buf[:0]
	total := 0
	for {
		part, err := f.r.ReadSlice('\n')
		total += len(part)
		if room := f.max - len(f.buf); room > 0 {
			f.buf = append(f.buf, part[:min(len(part), room)]...)
		}
		switch err {
		case nil:
			return trimNewline(f.buf), total-1 > f.max, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			// a last message without its newline
			return trimNewline(f.buf), total > f.max, nil
		default:
			return nil, false, err
		}
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
