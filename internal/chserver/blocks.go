package chserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"

	chcompress "github.com/ClickHouse/ch-go/compress"
)

// ClickHouse compressed-block framing (decompress=1): a 16-byte checksum,
// then method (1 byte), compressed size (4, counting these 9 bytes) and
// decompressed size (4), then the compressed bytes.
const (
	blockChecksumSize = 16
	blockHeaderSize   = blockChecksumSize + 9
)

// blockReader decodes a body of ClickHouse compressed blocks, refusing a
// block whose header announces more than max bytes, compressed or not,
// before anything of that size is allocated; ch-go's reader alone
// allocates what the header says (up to 128 MiB twice) before the bytes
// arrive. A block is read in full, as it arrives, before it is decoded.
type blockReader struct {
	src   io.Reader
	max   int64
	block bytes.Buffer
	out   io.Reader // the current block, decoded
}

func newBlockReader(src io.Reader, max int64) *blockReader {
	return &blockReader{src: src, max: max}
}

// errBlockTooLarge is a compressed block over the limit.
type errBlockTooLarge struct{ size, max int64 }

func (e *errBlockTooLarge) Error() string {
	return fmt.Sprintf("compressed block of %d bytes is larger than %d", e.size, e.max)
}

func (b *blockReader) Read(p []byte) (int, error) {
	for {
		if b.out != nil {
			n, err := b.out.Read(p)
			if n > 0 || !errors.Is(err, io.EOF) {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				return n, err
			}
			b.out = nil
		}
		if err := b.next(); err != nil {
			return 0, err
		}
	}
}

// next reads and decodes one block; io.EOF at a clean end of the body.
func (b *blockReader) next() error {
	var header [blockHeaderSize]byte
	n, err := io.ReadFull(b.src, header[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("read compressed block header: %w", err)
	}
	compressed := int64(binary.LittleEndian.Uint32(header[blockChecksumSize+1:]))
	decompressed := int64(binary.LittleEndian.Uint32(header[blockChecksumSize+5:]))
	if compressed < 9 {
		return fmt.Errorf("compressed block header: size %d is too small", compressed)
	}
	if compressed > b.max || decompressed > b.max {
		return &errBlockTooLarge{size: max(compressed, decompressed), max: b.max}
	}
	b.block.Reset()
	b.block.Write(header[:])
	// Grows with the bytes that really arrive, not with the header's claim.
	if m, err := io.Copy(&b.block, io.LimitReader(b.src, compressed-9)); err != nil || m != compressed-9 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read compressed block: %w", err)
	}
	data, err := io.ReadAll(chcompress.NewReader(bytes.NewReader(b.block.Bytes())))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decompress block: %w", err)
	}
	b.out = bytes.NewReader(data)
	return nil
}

func blockError(err error) *httpError {
	var big *errBlockTooLarge
	if errors.As(err, &big) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: 39,
			msg: "Code: 39. DB::Exception: " + big.Error() + ". (TOO_LARGE_SIZE_COMPRESSED)"}
	}
	return nil
}
