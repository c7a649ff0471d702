//go:build unix

package cli

import "syscall"

// Key file modes are checked exactly: a stricter umask than 022 must not
// turn the 0644 of public files into 0640.
func init() { syscall.Umask(0o022) }
