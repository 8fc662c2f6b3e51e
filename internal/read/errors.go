package read

import "errors"

// ErrHostNotFound is returned for a host the lattice does not hold.
var ErrHostNotFound = errors.New("host not found")

// ErrNoLive is returned by a Reader made without a live source.
var ErrNoLive = errors.New("live state is not available on this server")

// ErrNoHistory is returned by a Reader made without a history.
var ErrNoHistory = errors.New("as_of is not available on this server")

// ErrBadAsOf is returned by ParseAsOf for anything but a sequence number or
// an RFC 3339 time.
var ErrBadAsOf = errors.New("as of must be a stream sequence or an RFC 3339 time")
