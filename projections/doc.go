// Package projections holds the lattice event model, its strict decoder and the
// pure reducers that fold events into lattice documents.
//
// Nothing in this package performs I/O, reads a clock or draws random numbers:
// the same events always fold into byte-identical documents, which is what
// makes replaying the event stream equal to the live projection.
//
// The reducers work per document (ApplyHost, ApplyLink, ApplyRefmap) so that a
// pipeline can load one key-value document, fold the events that target it and
// write it back once; Apply folds an event into a whole in-memory Lattice.
package projections
