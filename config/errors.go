package config

import (
	"fmt"
	"strings"
)

// Error is a fault in a configuration: the file, line and column of the
// value at fault and its key's path (listeners[1].tls.cert), or, for a
// value a command-line flag set (SetSource), the flag.
type Error struct {
	File         string // "" for a value no file gave
	Line, Column int    // 1-based; 0 when unknown
	Path         string
	Source       string // the flag that set the value, when one did
	Err          error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Source != "":
		// The flag is what the user wrote: the key's path would only
		// puzzle someone who uses no file.
		b.WriteString(e.Source + ": ")
	case e.File != "":
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Column > 0 {
				fmt.Fprintf(&b, ":%d", e.Column)
			}
		}
		b.WriteString(": ")
		fallthrough
	default:
		if e.Path != "" {
			b.WriteString(e.Path + ": ")
		}
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// position is where a value starts in the file.
type position struct{ line, col int }

// maxErrors bounds the faults one reading reports: past a few, the rest
// are most often the same mistake repeated.
const maxErrors = 20

// parent is the path one level up: listeners[1].tls.cert, listeners[1].tls,
// listeners[1], listeners, "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// join appends a key to a path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// errAt is err about the value at path, placed where the value came from:
// the flag that set it (or a section above it), else the file's position
// of it (or of the nearest section above it that the file has).
func (c *Config) errAt(path string, err error) *Error {
	e := &Error{Path: path, Err: err}
	for p := path; p != ""; p = parent(p) {
		if src, ok := c.sources[p]; ok {
			e.Source = src
			return e
		}
	}
	e.File = c.file
	for p := path; p != ""; p = parent(p) {
		if pos, ok := c.pos[p]; ok {
			e.Line, e.Column = pos.line, pos.col
			break
		}
	}
	return e
}

func (c *Config) errorf(path, format string, args ...any) *Error {
	return c.errAt(path, fmt.Errorf(format, args...))
}
