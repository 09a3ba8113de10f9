// Package journald reads the systemd journal through journalctl's export
// format (`journalctl --output=export --follow --after-cursor=...`, as
// Vector does): no cgo, no libsystemd, and the journal's own tool does the
// reading, filtering and file handling. The agent turns the entries into
// log records and keeps the cursor of the last durable one.
package journald

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Field is one field of an entry. Name and Value point into the decoder's
// buffer: valid until the next call of Next.
type Field struct {
	Name, Value []byte
}

// Entry is one journal entry, its fields in the order journalctl wrote
// them.
type Entry struct {
	Fields []Field
	// Truncated: the entry was larger than the decoder's limit; the fields
	// past it were dropped, the one at it cut.
	Truncated bool

	offs []fieldOffsets
}

type fieldOffsets struct{ name, value, end int }

// Get returns the value of the first field called name.
func (e *Entry) Get(name string) ([]byte, bool) {
	for i := range e.Fields {
		if string(e.Fields[i].Name) == name {
			return e.Fields[i].Value, true
		}
	}
	return nil, false
}

// ErrFormat is the error of input that is not journal export format.
var ErrFormat = errors.New("not journal export format")

// Decoder reads entries in the journal export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/): each field is either
// `NAME=value\n`, or `NAME\n`, a little-endian 64-bit size, the binary
// value and `\n`; an empty line ends an entry.
type Decoder struct {
	r        *bufio.Reader
	maxEntry int
	buf      []byte
}

// NewDecoder reads from r; entries larger than maxEntry bytes are cut
// (Entry.Truncated) rather than held in memory.
func NewDecoder(r io.Reader, maxEntry int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10), maxEntry: maxEntry}
}

// Buffered reports whether more input is already read: when it is not,
// the next call of Next may wait for journalctl.
func (d *Decoder) Buffered() bool { return d.r.Buffered() > 0 }

// Next decodes the next entry into e (reusing its memory). It returns
// io.EOF at the end of the input between entries, io.ErrUnexpectedEOF
// within one, and an error wrapping ErrFormat on malformed input.
func (d *Decoder) Next(e *Entry) error {
	d.buf = d.buf[:0]
	e.Fields = e.Fields[:0]
	e.offs = e.offs[:0]
	e.Truncated = false
	started := false
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.EOF && started {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			if !started {
				continue // tolerate blank lines between entries
			}
			break
		}
		started = true
		if i := bytes.IndexByte(line, '='); i >= 0 {
			d.addField(e, line[:i], line[i+1:])
			continue
		}
		// binary field: NAME\n, le64 size, data, \n
		var size [8]byte
		if _, err := io.ReadFull(d.r, size[:]); err != nil {
			return unexpected(err)
		}
		n := binary.LittleEndian.Uint64(size[:])
		if n > 1<<40 {
			return fmt.Errorf("%w: field %.64q of %d bytes", ErrFormat, line, n)
		}
		nameStart := len(d.buf)
		room := d.room()
		d.buf = append(d.buf, line...)
		room -= len(line)
		keep := int64(n)
		if int64(room) < keep {
			keep = int64(max(room, 0))
			e.Truncated = true
		}
		valStart := len(d.buf)
		d.buf = append(d.buf, make([]byte, keep)...)
		if _, err := io.ReadFull(d.r, d.buf[valStart:]); err != nil {
			return unexpected(err)
		}
		if _, err := d.r.Discard(int(int64(n) - keep)); err != nil {
			return unexpected(err)
		}
		if b, err := d.r.ReadByte(); err != nil {
			return unexpected(err)
		} else if b != '\n' {
			return fmt.Errorf("%w: binary field %.64q not followed by a newline", ErrFormat, line)
		}
		if room > 0 || keep > 0 || n == 0 {
			e.offs = append(e.offs, fieldOffsets{nameStart, valStart, len(d.buf)})
		} else {
			d.buf = d.buf[:nameStart]
		}
	}
	for _, o := range e.offs {
		e.Fields = append(e.Fields, Field{Name: d.buf[o.name:o.value:o.value], Value: d.buf[o.value:o.end:o.end]})
	}
	return nil
}

// room is how many more bytes the entry may hold.
func (d *Decoder) room() int { return d.maxEntry - len(d.buf) }

func (d *Decoder) addField(e *Entry, name, value []byte) {
	room := d.room() - len(name)
	if room < 0 {
		e.Truncated = true
		return
	}
	if len(value) > room {
		value = value[:room]
		e.Truncated = true
	}
	start := len(d.buf)
	d.buf = append(d.buf, name...)
	mid := len(d.buf)
	d.buf = append(d.buf, value...)
	e.offs = append(e.offs, fieldOffsets{start, mid, len(d.buf)})
}

// readLine returns one line without its newline. A line longer than the
// entry limit is cut: the rest is read and dropped.
func (d *Decoder) readLine() ([]byte, error) {
	line, err := d.r.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if err == io.EOF {
		if len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, io.EOF
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	// a long line: keep up to maxEntry of it in a buffer of its own
	long := append([]byte(nil), line...)
	for {
		line, err = d.r.ReadSlice('\n')
		if len(long) < d.maxEntry {
			long = append(long, line[:min(len(line), d.maxEntry-len(long))]...)
		}
		if err == nil {
			if long[len(long)-1] == '\n' {
				long = long[:len(long)-1]
			}
			return long, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, unexpected(err)
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
