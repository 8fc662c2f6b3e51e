// Package ssetest reads server-sent event streams for tests of the watch
// endpoint.
package ssetest

import (
	"bufio"
	"io"
	"strings"
)

// Event is one server-sent event. HasID tells that the event carried an
// id field, even an empty one.
type Event struct {
	ID    string
	HasID bool
	Type  string
	Data  string
}

// Scan reads r until it ends and calls f with every event that names its
// type, in order. Lines are at most 1 MiB.
func Scan(r io.Reader, f func(Event)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var cur Event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Type != "" {
				f(cur)
			}
			cur = Event{}
		case line == "id:" || strings.HasPrefix(line, "id: "):
			cur.ID, cur.HasID = strings.TrimPrefix(strings.TrimPrefix(line, "id:"), " "), true
		case strings.HasPrefix(line, "event: "):
			cur.Type = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			cur.Data = line[len("data: "):]
		}
	}
}
