package streams

import (
	"fmt"
	"strings"
)

// Subjects of lattice events.
const (
	// HostEventsSubjects is where wasmCloud hosts publish: wasmbus.evt.<lattice>
	// (0.5x OTP hosts) and wasmbus.evt.<lattice>.<kind> (1.x hosts).
	HostEventsSubjects = "wasmbus.evt.>"
	// RecordedEventsSubjects is where latticestate records its own events:
	// latticestate.evt.<lattice>.<kind>.
	RecordedEventsSubjects = "latticestate.evt.>"
	// DLQSubjects holds dead letters: latticestate.dlq.<lattice>.
	DLQSubjects = "latticestate.dlq.>"
)

// ValidateLattice returns an error when name cannot be used as a lattice
// name: one subject token that is also a valid KV key token, 1 to 128
// letters, digits, '-' or '_'.
func ValidateLattice(name string) error {
	if !validLatticeName(name) {
		return fmt.Errorf("invalid lattice name %q: use 1-128 letters, digits, '-' or '_'", name)
	}
	return nil
}

// validLatticeName is ValidateLattice's check; it runs for every event.
func validLatticeName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// LatticeOf returns the lattice of an event subject: its third token
// (wasmbus.evt.<lattice>[.<kind>], latticestate.evt.<lattice>.<kind>).
func LatticeOf(subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, "wasmbus.evt.")
	if !ok {
		rest, ok = strings.CutPrefix(subject, "latticestate.evt.")
	}
	if !ok {
		return "", fmt.Errorf("subject %q is not an event subject", subject)
	}
	lattice, _, _ := strings.Cut(rest, ".")
	if err := ValidateLattice(lattice); err != nil {
		return "", err
	}
	return lattice, nil
}

// IsRecordedSubject reports whether subject is one latticestate records
// its own events on (RecordedEventsSubjects), where only the projector may
// publish.
func IsRecordedSubject(subject string) bool {
	return strings.HasPrefix(subject, "latticestate.evt.")
}

// HostEventSubject is the OTP-style subject hosts of lattice publish on.
func HostEventSubject(lattice string) string { return "wasmbus.evt." + lattice }

// HostEventKindSubject is the 1.x-style subject for one kind of event.
func HostEventKindSubject(lattice, kind string) string { return "wasmbus.evt." + lattice + "." + kind }

// RecordedEventSubject is where latticestate records its own events of kind
// about lattice.
func RecordedEventSubject(lattice, kind string) string {
	return "latticestate.evt." + lattice + "." + kind
}

// LatticeKindSubjects matches the events of lattice whose subject ends in
// a kind, hosts' (1.x) and recorded ones alike: *.evt.<lattice>.>. With
// HostEventSubject it covers every event of lattice and none of another
// lattice, which no one wildcard does.
func LatticeKindSubjects(lattice string) string { return "*.evt." + lattice + ".>" }

// LatticeFilters returns the event subjects of one lattice.
func LatticeFilters(lattice string) []string {
	return []string{"wasmbus.evt." + lattice, "wasmbus.evt." + lattice + ".>", "latticestate.evt." + lattice + ".>"}
}

// DLQSubject is where dead letters of lattice go; "_" stands for events
// whose lattice could not be told.
func DLQSubject(lattice string) string {
	if ValidateLattice(lattice) != nil {
		lattice = "_"
	}
	return "latticestate.dlq." + lattice
}

// OTPInventorySubject is the control subject an OTP host answers inventory
// requests on.
func OTPInventorySubject(lattice, hostID string) string {
	return "wasmbus.ctl." + lattice + ".get." + hostID + ".inv"
}

// V1InventorySubject is the control subject a 1.x host answers inventory
// requests on.
func V1InventorySubject(lattice, hostID string) string {
	return "wasmbus.ctl.v1." + lattice + ".host.get." + hostID
}

// Headers set on dead letters and recorded events.
const (
	HeaderDLQReason    = "Latticestate-Reason"
	HeaderDLQSubject   = "Latticestate-Subject"
	HeaderDLQStreamSeq = "Latticestate-Stream-Seq"
	// HeaderSeq carries, on a KV delete marker, the stream sequence of the
	// event that removed the document, so redelivery cannot bring it back.
	HeaderSeq = "Latticestate-Seq"
	// HeaderStreamCreated carries, on a checkpoint, the creation time of
	// the event stream it counts in (RFC 3339): a stream deleted and made
	// again, or restored from a backup, has another, and its sequences are
	// not the ones the state was built from.
	HeaderStreamCreated = "Latticestate-Stream-Created"
)
