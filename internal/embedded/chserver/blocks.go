package chserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

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
// arrive. A block is read in full, as it arrives, and checked, before one
// ch-go reader (whose buffers serve every block of the body) decodes it.
type blockReader struct {
	src     io.Reader
	max     int64
	block   bytes.Buffer
	cur     bytes.Reader       // the current block, checked, for dec
	dec     *chcompress.Reader // reads blocks from cur only
	left    int64              // bytes of the current block dec has not returned
	biggest int64              // the largest block so far, compressed or not
}

func newBlockReader(src io.Reader, max int64) *blockReader {
	b := &blockReader{src: src, max: max}
	b.dec = chcompress.NewReader(&b.cur)
	return b
}

// pooledBlockBytes is the largest block whose buffers are kept for the next
// body. clickhouse-go's blocks of a 50k-span insert are about 10 MB; the
// pool lets go of what is not used again within two GCs.
const pooledBlockBytes = 64 << 20

// blockReaders reuses blockReaders across request bodies: each body's
// blocks otherwise grow fresh buffers (about 20 MiB of allocations per
// 50k-span insert, measured). The zero value is ready to use.
type blockReaders struct{ pool sync.Pool }

// get returns a reader of src's blocks; give it back with put once the
// body is done with.
func (p *blockReaders) get(src io.Reader, max int64) *blockReader {
	b, _ := p.pool.Get().(*blockReader)
	if b == nil {
		return newBlockReader(src, max)
	}
	b.src, b.max = src, max
	return b
}

// put keeps b for another body, unless it stopped inside a block (its
// decoder still holds that block's rest) or met a big block. b must not be
// used after.
func (p *blockReaders) put(b *blockReader) {
	if b.left != 0 || b.biggest > pooledBlockBytes {
		return
	}
	b.src = nil
	b.block.Reset()
	b.cur.Reset(nil)
	p.pool.Put(b)
}

// errBlockTooLarge is a compressed block over the limit.
type errBlockTooLarge struct{ size, max int64 }

func (e *errBlockTooLarge) Error() string {
	return fmt.Sprintf("compressed block of %d bytes is larger than %d", e.size, e.max)
}

func (b *blockReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		// dec is only asked for what its block holds: at a block's end it
		// would read the next header from cur, find none, and (ch-go's
		// reader resets its position first) serve the old block again
		if b.left == 0 {
			if err := b.next(); err != nil {
				return 0, err
			}
			if b.left == 0 {
				continue // an empty block adds nothing
			}
		}
		n, err := b.dec.Read(p[:min(int64(len(p)), b.left)])
		b.left -= int64(n)
		if err != nil {
			return n, fmt.Errorf("decompress block: %w", err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// next reads and checks one block into cur; io.EOF at a clean end of the
// body.
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
	b.cur.Reset(b.block.Bytes())
	b.left = decompressed
	b.biggest = max(b.biggest, compressed, decompressed)
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
