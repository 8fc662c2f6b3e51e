// Package codesize holds no code: its test keeps every non-test Go file of
// the module at most MaxFileLines lines long and every function at most
// MaxFuncLines, so that each reads on a screen or two.
package codesize

// The limits.
const (
	MaxFileLines = 500
	MaxFuncLines = 80
)
