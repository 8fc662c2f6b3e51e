package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"latticestate/projections"
)

// writeHostsTable prints one line per host; EXPIRES is how long a stale
// host has left as of now.
func writeHostsTable(w io.Writer, hosts []*projections.Host, expiry hostExpiry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST ID\tNAME\tSTATUS\tVERSION\tACTORS\tPROVIDERS\tLAST SEEN\tEXPIRES\tLABELS")
	for _, h := range hosts {
		instances := uint64(0)
		for _, a := range h.Actors {
			instances += a.Count
		}
		lastSeen := "-"
		if h.LastSeen != nil {
			lastSeen = *h.LastSeen
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", h.HostID, orDash(h.FriendlyName), h.Status,
			orDash(h.Version), instances, len(h.Providers), lastSeen, expiry.left(h, now), formatLabels(h.Labels))
	}
	return tw.Flush()
}

// writeHostDetail prints one host with its actors and providers; a stale
// host also with how long it has left as of now.
func writeHostDetail(w io.Writer, h *projections.Host, expiry hostExpiry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	lastSeen := "-"
	if h.LastSeen != nil {
		lastSeen = *h.LastSeen
	}
	fmt.Fprintf(tw, "Host:\t%s\n", h.HostID)
	fmt.Fprintf(tw, "Lattice:\t%s\n", h.Lattice)
	fmt.Fprintf(tw, "Name:\t%s\n", orDash(h.FriendlyName))
	fmt.Fprintf(tw, "Status:\t%s\n", h.Status)
	fmt.Fprintf(tw, "Version:\t%s\n", orDash(h.Version))
	fmt.Fprintf(tw, "Uptime:\t%s\n", orDash(h.UptimeHuman))
	fmt.Fprintf(tw, "Last seen:\t%s\n", lastSeen)
	if h.Status == projections.StatusStale {
		fmt.Fprintf(tw, "Expires:\t%s\n", expiry.left(h, now))
	}
	fmt.Fprintf(tw, "Labels:\t%s\n", formatLabels(h.Labels))
	fmt.Fprintf(tw, "Seq:\t%d\n", h.Seq)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTOR\tCOUNT\tSTATUS")
	for _, id := range slices.Sorted(maps.Keys(h.Actors)) {
		a := h.Actors[id]
		fmt.Fprintf(tw, "%s\t%d\t%s\n", id, a.Count, a.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tLINK\tCONTRACT\tSTATUS")
	for _, key := range slices.Sorted(maps.Keys(h.Providers)) {
		p := h.Providers[key]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.PublicKey, p.LinkName, orDash(p.ContractID), p.Status)
	}
	return tw.Flush()
}

func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeJSONLine writes a document followed by a newline.
func writeJSONLine(w io.Writer, v any) error {
	b, err := projections.MarshalIndent(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
