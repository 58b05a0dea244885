package event

import (
	"errors"
	"fmt"
	"os"
)

// LoadOrCreateSigner reads an nkeys seed from path, creating one (mode
// 0600) when the file does not exist, and writes the public key beside it
// as path + ".pub" for whoever must verify.
func LoadOrCreateSigner(path string) (*Signer, error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if seed, err = GenerateSeed(); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create signing key: %w", err)
		}
		_, werr := f.Write(seed)
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("write signing key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	signer, err := NewSigner(seed)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".pub", []byte(signer.PublicKey()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write public key: %w", err)
	}
	return signer, nil
}
