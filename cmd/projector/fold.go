package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"latticestate/internal/cli"
	"os"

	"github.com/spf13/cobra"

	"latticestate/projections"
)

// maxLineBytes bounds one event line; longer lines are rejected, not read
// into memory.
const maxLineBytes = 8 << 20

func newFoldCmd() *cobra.Command {
	lattice := "default"
	ownEvents := false
	cmd := &cobra.Command{
		Use:   "fold [--lattice L] [--own-events] [FILE|-]...",
		Short: "Fold CloudEvents from JSON-lines files into a lattice document (offline)",
		Long: `fold reads wasmCloud lattice CloudEvents, one JSON object per line, from the
files named (or standard input for "-" or no file) and prints the lattice
document {"lattice", "hosts", "links", "refmaps"} as JSON on standard output.

Line numbers run on across files and count every line, blank ones included; a
host's "seq" is the number of the last line applied to it, as a stream
sequence would be. Blank lines are skipped. Lines that cannot be decoded are
reported on standard error as "line N: reason" and the rest is still folded.

The lines are taken as events hosts published, as on wasmbus.evt.>: an event
of latticestate's own types (dev.latticestate.*, which only latticestate
records, on latticestate.evt.>) among them is rejected as forged, as serve
rejects it. --own-events accepts them, for an export of the whole event
stream, where latticestate's recorded events sit between the hosts' ones.

Exit status: 0 when every line was applied or ignored, 1 when any line was
rejected, 2 on usage or I/O errors.`,
		Example: `  projector fold events.jsonl
  nats sub --raw 'wasmbus.evt.default' | projector fold -
  projector fold --own-events whole-stream.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateLatticeName(lattice); err != nil {
				return err
			}
			if len(args) == 0 {
				args = []string{"-"}
			}
			origin := projections.FromHost
			if ownEvents {
				origin = projections.FromLatticestate
			}
			return runFold(cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.InOrStdin(), lattice, origin, args)
		},
	}
	cmd.Flags().StringVar(&lattice, "lattice", lattice, "name of the lattice the events belong to")
	cmd.Flags().BoolVar(&ownEvents, "own-events", false, "accept latticestate's own dev.latticestate.* events (an export of the whole event stream); by default they are rejected as forged")
	return cmd
}

func runFold(stdout, stderr io.Writer, stdin io.Reader, lattice string, origin projections.Origin, files []string) error {
	folder := projections.NewFolder(lattice)
	var line uint64
	rejected := 0
	for _, name := range files {
		err := foldFile(name, stdin, func(raw []byte, tooLong bool) {
			line++
			var err error
			switch {
			case tooLong:
				err = fmt.Errorf("line is longer than %d bytes", maxLineBytes)
			case len(bytes.TrimSpace(raw)) == 0:
				return
			default:
				err = folder.AddFrom(origin, line, raw)
			}
			if err != nil {
				rejected++
				fmt.Fprintf(stderr, "line %d: %v\n", line, err)
			}
		})
		if err != nil {
			return cli.Exit(2, err)
		}
	}
	if err := projections.WriteIndent(stdout, folder.Lattice); err != nil {
		return cli.Exit(2, fmt.Errorf("write lattice: %w", err))
	}
	if rejected > 0 {
		return cli.Exit(1, nil)
	}
	return nil
}

// foldFile calls fn for every line of the named file ("-" is stdin), with
// the line terminator removed. Lines longer than maxLineBytes are skipped
// and reported with tooLong set.
func foldFile(name string, stdin io.Reader, fn func(raw []byte, tooLong bool)) error {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	if err := eachLine(r, fn); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

func eachLine(r io.Reader, fn func(raw []byte, tooLong bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > maxLineBytes+1 {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return err
		}
		eof := err != nil
		if len(chunk) > 0 || len(buf) > 0 || tooLong {
			fn(bytes.TrimSuffix(buf, []byte("\n")), tooLong)
		}
		if eof {
			return nil
		}
		buf, tooLong = buf[:0], false
	}
}
