package cli

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/credlog/credlog/log/credential"
)

// maxCertFile bounds the size of a credential file.
const maxCertFile = 64 << 10

// readFile reads at most limit bytes of path, and fails if it is longer.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimit(f, path, limit)
}

// readAllLimit reads at most limit bytes of r, named name in errors, and
// fails if it holds more.
func readAllLimit(r io.Reader, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, err // it names the file already
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

// readCredential reads and parses a credential certificate, DER or PEM.
func readCredential(path string) (*credential.Credential, error) {
	b, err := readFile(path, maxCertFile)
	if err != nil {
		return nil, fmt.Errorf("couldn't read credential: %w", err)
	}
	if block, _ := pem.Decode(b); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("couldn't parse credential %s: PEM block is %q, want \"CERTIFICATE\"", path, block.Type)
		}
		b = block.Bytes
	}
	c, err := credential.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse credential %s: %w", path, err)
	}
	return c, nil
}

// output is a file a command writes.
type output struct {
	path string
	data []byte
	mode os.FileMode
	// write, if set, writes the file instead of writeNew; it must refuse
	// to overwrite an existing file.
	write func(path string, data []byte) error
}

// writeOutputs writes files, all or none: it refuses to overwrite any
// existing file, and removes the files it created if one write fails.
// Each file is synced before it returns.
func writeOutputs(files []output) error {
	for _, f := range files {
		if _, err := os.Lstat(f.path); err == nil {
			return fmt.Errorf("couldn't write %s: %w", f.path, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("couldn't write %s: %w", f.path, err)
		}
	}
	var created []string
	for _, f := range files {
		write := f.write
		if write == nil {
			write = func(p string, b []byte) error { return writeNew(p, b, f.mode) }
		}
		if err := write(f.path, f.data); err != nil {
			for _, p := range created {
				os.Remove(p)
			}
			return err
		}
		created = append(created, f.path)
	}
	return nil
}

// printWritten prints "wrote: PATH" for each file.
func printWritten(w io.Writer, files []output) {
	for _, f := range files {
		fmt.Fprintf(w, "wrote: %s\n", f.path)
	}
}

// writeNew creates path with mode and writes data to it, failing if path
// exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("couldn't create output file: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}
