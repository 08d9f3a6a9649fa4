package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a config file, located by line and by
// the path of the offending field (e.g. "lanes[1].barrier").
type Problem struct {
	File string // the name given to Parse or Load
	Line int    // 1-based; 0 when unknown
	Path string // field path; empty for problems with the file as a whole
	Msg  string
}

// String formats the problem as "file:line: path: message", leaving out
// the parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a config file. A non-empty Problems
// is the error Parse and Load return for an invalid file.
type Problems []Problem

// Error returns one problem per line, in file order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sort orders problems by line, keeping the order they were found in for
// problems on the same line.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}
