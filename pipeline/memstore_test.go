package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
)

// fault is what faultPlan does to one step: one operation of the store or
// one ack of the consumer.
type fault int

const (
	faultNone fault = iota
	// faultError fails the operation; it changes nothing.
	faultError
	// faultRefused has a write sent but refused: it changes nothing, and
	// its caller sees the error when it waits for the write; on other
	// operations it is faultError.
	faultRefused
	// faultLostReply lets the operation take effect, but its caller sees
	// an error, as when the reply is lost.
	faultLostReply
	// faultConflict has another projector write the key first, again at
	// the version this one read (when there was one), so that the write
	// fails its compare-and-set; on other operations it is faultError.
	faultConflict
	// faultOvertaken has another projector, folding the same events, write
	// the version this one is about to write, first; on other operations
	// it is faultError.
	faultOvertaken
	// faultCrash kills the process before the operation takes effect.
	faultCrash
	// faultCrashAfter kills the process once the operation took effect.
	faultCrashAfter
	numFaults
)

func (f fault) String() string {
	return [...]string{"none", "error", "refused", "lost reply", "conflict", "overtaken", "crash", "crash after"}[f]
}

var (
	errInjected = errors.New("injected failure")
	errCrashed  = errors.New("process crashed")
)

// faultPlan counts the steps of a test run, across process lives, and
// injects the planned fault at each. Once the process crashed, every step
// fails with errCrashed until the test starts it again.
type faultPlan struct {
	mu      sync.Mutex
	steps   int
	at      map[int]fault
	crashed bool
	// lifeFaults counts the faults that may cost a process life: crashes,
	// failures to read the checkpoint at start, and acks lost, which leave
	// events to be delivered again.
	lifeFaults int
}

// next counts a step and returns the fault to inject into it; an error
// when the process is dead.
func (p *faultPlan) next() (fault, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.crashed {
		return faultNone, errCrashed
	}
	f := p.at[p.steps]
	p.steps++
	if f >= faultCrash {
		p.lifeFaults++
	}
	if f == faultCrash {
		p.crashed = true
		return f, errCrashed
	}
	return f, nil
}

// costsLife counts a fault, other than a crash, that may cost a life.
func (p *faultPlan) costsLife(f fault) {
	if f != faultNone && f < faultCrash {
		p.mu.Lock()
		p.lifeFaults++
		p.mu.Unlock()
	}
}

// crashNow kills the process after a faultCrashAfter step took effect.
func (p *faultPlan) crashNow() error {
	p.mu.Lock()
	p.crashed = true
	p.mu.Unlock()
	return errCrashed
}

// isCrashed reports whether the process died.
func (p *faultPlan) isCrashed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crashed
}

// restart brings the process back.
func (p *faultPlan) restart() {
	p.mu.Lock()
	p.crashed = false
	p.mu.Unlock()
}

// memStore is a docStore in memory, for tests. It keeps documents encoded
// and revisioned as the state bucket does (a revision from one counter
// for every write, a delete marker carrying the seq) and dead letters
// deduplicated by stream sequence, and injects the faults of its plan.
type memStore struct {
	plan *faultPlan

	mu   sync.Mutex
	rev  uint64
	docs map[string]storedDoc
	// dead holds the reason of each dead letter, by stream sequence.
	dead map[uint64]string
	cp   checkpoint
}

var _ docStore = (*memStore)(nil)

// storedDoc is a document as the bucket stores it.
type storedDoc struct {
	rev     uint64
	deleted bool
	// seq is the header of a delete marker.
	seq  uint64
	body []byte
}

func newMemStore(plan *faultPlan) *memStore {
	return &memStore{plan: plan, docs: map[string]storedDoc{}, dead: map[uint64]string{}}
}

// step counts an operation: the fault to inject, or the error to return at
// once.
func (s *memStore) step() (fault, error) {
	f, err := s.plan.next()
	if err != nil {
		return f, err
	}
	if f == faultError {
		return f, errInjected
	}
	return f, nil
}

// refused makes faultRefused fail an operation that is not a write.
func refused(f fault) error {
	if f == faultRefused || isConflict(f) {
		return errInjected
	}
	return nil
}

func isConflict(f fault) bool { return f == faultConflict || f == faultOvertaken }

// after ends an operation that took effect: lost reply or crash.
func (s *memStore) after(f fault) error {
	switch f {
	case faultLostReply:
		return errInjected
	case faultCrashAfter:
		return s.plan.crashNow()
	}
	return nil
}

func (s *memStore) Load(_ context.Context, key string) (*document, error) {
	f, err := s.step()
	if err != nil {
		return nil, err
	}
	if err := refused(f); err != nil {
		return nil, err
	}
	s.mu.Lock()
	sd, ok := s.docs[key]
	s.mu.Unlock()
	if err := s.after(f); err != nil {
		return nil, err
	}
	if !ok {
		return &document{key: key}, nil
	}
	return sd.decode(key)
}

func (s *memStore) LoadAll(_ context.Context, lattices []string) (map[string]*document, error) {
	f, err := s.step()
	if err != nil {
		return nil, err
	}
	if err := refused(f); err != nil {
		return nil, err
	}
	s.mu.Lock()
	stored := maps.Clone(s.docs)
	s.mu.Unlock()
	if err := s.after(f); err != nil {
		return nil, err
	}
	docs := map[string]*document{}
	for key, sd := range stored {
		if !inLattices(key, lattices) {
			continue
		}
		d, err := sd.decode(key)
		if err != nil {
			return nil, err
		}
		docs[key] = d
	}
	return docs, nil
}

func inLattices(key string, lattices []string) bool {
	if len(lattices) == 0 {
		return true
	}
	for _, l := range lattices {
		if strings.HasPrefix(key, l+".") {
			return true
		}
	}
	return false
}

func (sd storedDoc) decode(key string) (*document, error) {
	if sd.deleted {
		return decodeDocument(key, sd.rev, "DEL", strconv.FormatUint(sd.seq, 10), nil)
	}
	return decodeDocument(key, sd.rev, "", "", sd.body)
}

// put stores next as the bucket would; the caller holds mu.
func (s *memStore) put(next *document) (uint64, error) {
	body, err := next.encode()
	if err != nil {
		return 0, err
	}
	s.rev++
	s.docs[next.key] = storedDoc{rev: s.rev, deleted: body == nil, seq: next.Seq, body: body}
	return s.rev, nil
}

func (s *memStore) Write(next, base *document) (pendingWrite, error) {
	f, err := s.step()
	if err != nil {
		return nil, err
	}
	if f == faultRefused {
		return memWrite{err: errInjected}, nil
	}
	s.mu.Lock()
	if isConflict(f) {
		other := base
		if f == faultOvertaken || base.rev == 0 {
			other = next
		}
		if _, err := s.put(other); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	if cur := s.docs[next.key].rev; cur != base.rev {
		s.mu.Unlock()
		return memWrite{err: fmt.Errorf("write %s at revision %d, expected %d: %w", next.key, cur, base.rev, jetstream.ErrKeyRevisionMismatch)}, nil
	}
	rev, err := s.put(next)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.after(f); err != nil {
		return memWrite{err: err}, nil
	}
	return memWrite{rev: rev}, nil
}

func (s *memStore) DeadLetter(seq uint64, _ string, _ []byte, reason error) (pendingWrite, error) {
	f, err := s.step()
	if err != nil {
		return nil, err
	}
	if err := refused(f); err != nil {
		return memWrite{err: err}, nil
	}
	s.mu.Lock()
	if _, ok := s.dead[seq]; !ok {
		s.dead[seq] = reason.Error()
	}
	s.mu.Unlock()
	if err := s.after(f); err != nil {
		return memWrite{err: err}, nil
	}
	return memWrite{}, nil
}

func (s *memStore) Checkpoint(context.Context) (checkpoint, error) {
	f, err := s.step()
	s.plan.costsLife(f)
	if err != nil {
		return checkpoint{}, err
	}
	if err := refused(f); err != nil {
		return checkpoint{}, err
	}
	s.mu.Lock()
	cp := s.cp
	s.mu.Unlock()
	return cp, s.after(f)
}

func (s *memStore) SaveCheckpoint(_ context.Context, cp checkpoint) error {
	f, err := s.step()
	if err != nil {
		return err
	}
	if err := refused(f); err != nil {
		return err
	}
	s.mu.Lock()
	s.cp = cp
	s.mu.Unlock()
	return s.after(f)
}

// lattice returns the live documents of lattice as `fold` prints them.
func (s *memStore) lattice(lattice string) (*projections.Lattice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var docs []*document
	for key, sd := range s.docs {
		if !strings.HasPrefix(key, lattice+".") {
			continue
		}
		d, err := sd.decode(key)
		if err != nil {
			return nil, err
		}
		if d.Live() {
			docs = append(docs, d)
		}
	}
	return foldLattice(lattice, docs), nil
}

// seqOf returns the seq of the stored document at key, 0 when none.
func (s *memStore) seqOf(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sd, ok := s.docs[key]
	if !ok {
		return 0
	}
	if sd.deleted {
		return sd.seq
	}
	d, err := sd.decode(key)
	if err != nil {
		return 0
	}
	return d.Seq
}

// memWrite is a write the memStore has already done or refused.
type memWrite struct {
	rev uint64
	err error
}

func (w memWrite) wait(context.Context) (uint64, error) { return w.rev, w.err }

// memConsumer is the part of a durable consumer the applier sees: the
// ack floor, which an ack of any message raises to its sequence. After a
// crash the consumer delivers again every event above it.
type memConsumer struct {
	plan     *faultPlan
	mu       sync.Mutex
	ackFloor uint64
}

// acker returns the ack of the message delivered at seq.
func (c *memConsumer) acker(seq uint64) acker { return memAck{c: c, seq: seq} }

func (c *memConsumer) floor() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ackFloor
}

type memAck struct {
	c   *memConsumer
	seq uint64
}

func (a memAck) Ack() error {
	f, err := a.c.plan.next()
	a.c.plan.costsLife(f)
	if err != nil {
		return err
	}
	if f == faultError || refused(f) != nil {
		return errInjected
	}
	a.c.mu.Lock()
	a.c.ackFloor = max(a.c.ackFloor, a.seq)
	a.c.mu.Unlock()
	switch f {
	case faultLostReply:
		return errInjected
	case faultCrashAfter:
		return a.c.plan.crashNow()
	}
	return nil
}
