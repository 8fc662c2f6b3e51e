package direct

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ObjectStore reads an object store with direct gets. It has the read
// methods of jetstream.ObjectStore that listing and reading whole objects
// need, so code written against those takes either.
type ObjectStore struct {
	js     jetstream.JetStream
	bucket string
}

// ObjectReader is what ObjectStore and jetstream.ObjectStore have in
// common.
type ObjectReader interface {
	List(ctx context.Context, opts ...jetstream.ListObjectsOpt) ([]*jetstream.ObjectInfo, error)
	GetBytes(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) ([]byte, error)
}

var (
	_ ObjectReader = (*ObjectStore)(nil)
	_ ObjectReader = (jetstream.ObjectStore)(nil)
)

// ErrDigestMismatch is returned for an object whose chunks do not add up to
// the size and digest its metadata records.
var ErrDigestMismatch = errors.New("object does not match its recorded size and digest")

// OpenObjectStore returns the object store bucket, jetstream.ErrStreamNotFound
// when there is none.
func OpenObjectStore(ctx context.Context, js jetstream.JetStream, bucket string) (*ObjectStore, error) {
	if _, err := js.Stream(ctx, objStream(bucket)); err != nil {
		return nil, fmt.Errorf("open object store %s: %w", bucket, err)
	}
	return &ObjectStore{js: js, bucket: bucket}, nil
}

func objStream(bucket string) string { return "OBJ_" + bucket }

// List returns the objects of the store that are not deleted, in the order
// they were last written; jetstream.ErrNoObjectsFound when there is none.
// The options of jetstream.ObjectStore.List are not supported.
func (o *ObjectStore) List(ctx context.Context, opts ...jetstream.ListObjectsOpt) ([]*jetstream.ObjectInfo, error) {
	if len(opts) > 0 {
		return nil, fmt.Errorf("list objects of %s: options are not supported", o.bucket)
	}
	var out []*jetstream.ObjectInfo
	_, err := Scan(ctx, o.js, objStream(o.bucket), "$O."+o.bucket+".M.>", 1, func(m *jetstream.RawStreamMsg) error {
		info, err := decodeObjectInfo(o.bucket, m)
		if err != nil {
			return err
		}
		if !info.Deleted {
			out = append(out, info)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list objects of %s: %w", o.bucket, err)
	}
	if len(out) == 0 {
		return nil, jetstream.ErrNoObjectsFound
	}
	return out, nil
}

// info reads the metadata of the object name.
func (o *ObjectStore) info(ctx context.Context, name string) (*jetstream.ObjectInfo, error) {
	subject := "$O." + o.bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
	s, err := o.js.Stream(ctx, objStream(o.bucket))
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", o.bucket, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, jetstream.ErrObjectNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read object %s of %s: %w", name, o.bucket, err)
	}
	info, err := decodeObjectInfo(o.bucket, m)
	if err != nil {
		return nil, err
	}
	if info.Deleted {
		return nil, jetstream.ErrObjectNotFound
	}
	return info, nil
}

// GetBytes reads the whole object name and checks it against the size and
// SHA-256 digest its metadata records. The options of
// jetstream.ObjectStore.GetBytes are not supported.
func (o *ObjectStore) GetBytes(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) ([]byte, error) {
	if len(opts) > 0 {
		return nil, fmt.Errorf("read object %s of %s: options are not supported", name, o.bucket)
	}
	info, err := o.info(ctx, name)
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, info.Size))
	h := sha256.New()
	chunks := uint32(0)
	if info.Size > 0 {
		_, err = Scan(ctx, o.js, objStream(o.bucket), "$O."+o.bucket+".C."+info.NUID, 1, func(m *jetstream.RawStreamMsg) error {
			chunks++
			if uint64(buf.Len()+len(m.Data)) > info.Size {
				return fmt.Errorf("%w: object %s of %s has more than %d bytes", ErrDigestMismatch, name, o.bucket, info.Size)
			}
			buf.Write(m.Data)
			h.Write(m.Data)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read object %s of %s: %w", name, o.bucket, err)
		}
	}
	want, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("object %s of %s: digest %q: %w", name, o.bucket, info.Digest, err)
	}
	if uint64(buf.Len()) != info.Size || chunks != info.Chunks || !bytes.Equal(h.Sum(nil), want) {
		return nil, fmt.Errorf("%w: object %s of %s: %d bytes in %d chunks, want %d in %d", ErrDigestMismatch,
			name, o.bucket, buf.Len(), chunks, info.Size, info.Chunks)
	}
	return buf.Bytes(), nil
}

// decodeObjectInfo reads an object's metadata message.
func decodeObjectInfo(bucket string, m *jetstream.RawStreamMsg) (*jetstream.ObjectInfo, error) {
	info := new(jetstream.ObjectInfo)
	if err := json.Unmarshal(m.Data, info); err != nil {
		return nil, fmt.Errorf("object metadata %s of %s: %w", m.Subject, bucket, err)
	}
	info.ModTime = m.Time
	return info, nil
}
