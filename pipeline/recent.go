package pipeline

// recent keeps the values used last, at most size of them: a value read or
// put becomes the most recently used, and one put beyond size drops the
// least recently used. It is not safe for concurrent use.
type recent[K comparable, V any] struct {
	size int
	// entries are in order of use, the most recent last.
	entries []recentEntry[K, V]
}

type recentEntry[K comparable, V any] struct {
	key   K
	value V
}

// get returns the value of key, marking it the most recently used.
func (r *recent[K, V]) get(key K) (V, bool) {
	for i, e := range r.entries {
		if e.key == key {
			r.entries = append(append(r.entries[:i:i], r.entries[i+1:]...), e)
			return e.value, true
		}
	}
	var zero V
	return zero, false
}

// put sets the value of key, the most recently used.
func (r *recent[K, V]) put(key K, value V) {
	if _, ok := r.get(key); ok {
		r.entries[len(r.entries)-1].value = value
		return
	}
	r.entries = append(r.entries, recentEntry[K, V]{key, value})
	if len(r.entries) > r.size {
		r.entries = r.entries[len(r.entries)-r.size:]
	}
}
