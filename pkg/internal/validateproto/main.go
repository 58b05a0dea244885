// Command validateproto writes buf/validate/validate.proto, the rules
// vocabulary gatepass's proto files import, from the file descriptor that
// protovalidate's generated Go module ships. The buf registry is not
// reachable from every build machine, so the file is printed at build time
// (make generate, make lint) into a directory outside the source tree and
// never copied into it by hand.
//
// Usage: validateproto DIR (writes DIR/buf/validate/validate.proto).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/jhump/protoreflect/v2/protoprint"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "validateproto:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: validateproto DIR")
	}
	fd := validate.File_buf_validate_validate_proto
	path := filepath.Join(args[0], fd.Path())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var p protoprint.Printer
	if err := p.PrintProtoFile(fd, f); err != nil {
		f.Close()
		return fmt.Errorf("print %s: %w", fd.Path(), err)
	}
	return f.Close()
}
