package keystore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// pemTimeLayout names a PEM key file for its activation time, in UTC to the
// second: 20261122T120000Z.pem.
const pemTimeLayout = "20060102T150405Z"

// PEMStore reads signing keys from a directory of PEM files (the seeds'
// generate_keys.sh flow), one RSA private key per *.pem file, PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), unencrypted: the
// operator's file permissions protect them. A file's name is its activation
// time (see GeneratePEM); a file whose time is still ahead is next. A key
// retires when the next file by activation time activates and expires
// Schedule.RetiredFor later; nothing about a key but its name is stored, so
// these times are computed (see StoredKey.RetiresAt). Names starting with a
// dot are skipped, as are files not ending in .pem, which keeps temporary
// files and Kubernetes' secret-volume bookkeeping out.
//
// The directory is read-only to authd: UpdateKeys fails with ErrReadOnly,
// so Rotate and Rekey do too, Maintain only re-reads it, and Load fails on
// an empty directory. To rotate, add a file activating at least
// ActivationDelay after it reaches every instance; remove a file once its
// key has expired.
//
// Store hands out keys sealed, so ListKeys seals each file's key under a
// random key-encryption key of this PEMStore's own, made for this process;
// a Manager over a PEMStore opens with that key instead of the one it was
// given. The private keys thus never travel in the clear through the Store
// interface, and the Manager has one way to open keys. A file is parsed
// and sealed again only when its bytes change.
type PEMStore struct {
	dir string
	kek KEK

	mu    sync.Mutex
	files map[string]pemFile // by file name, guarded by mu
}

type pemFile struct {
	sum [sha256.Size]byte // of the file's bytes
	key StoredKey
}

var _ Store = (*PEMStore)(nil)

// NewPEMStore returns a read-only Store over the PEM files in dir.
func NewPEMStore(dir string) *PEMStore {
	var kek KEK
	// crypto/rand.Read does not fail: since Go 1.24 it crashes the program
	// rather than return short.
	_, _ = rand.Read(kek[:])
	return &PEMStore{dir: dir, kek: kek, files: make(map[string]pemFile)}
}

// ListKeys implements Store. Any file that is not a valid key named for its
// activation time fails the whole listing, naming the file: skipping it
// would hide a key the operator meant to publish.
func (s *PEMStore) ListKeys(context.Context) ([]StoredKey, error) {
	dirents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list PEM signing keys: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(dirents))
	byKid := make(map[string]string, len(dirents))
	var keys []StoredKey
	for _, d := range dirents {
		name := d.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".pem") {
			continue
		}
		k, err := s.readFile(name)
		if err != nil {
			return nil, fmt.Errorf("list PEM signing keys: %w", err)
		}
		if other, ok := byKid[k.ID]; ok {
			return nil, fmt.Errorf("list PEM signing keys: %s and %s hold the same key %s",
				filepath.Join(s.dir, other), filepath.Join(s.dir, name), k.ID)
		}
		byKid[k.ID] = name
		seen[name] = true
		keys = append(keys, k)
	}
	for name := range s.files {
		if !seen[name] {
			delete(s.files, name)
		}
	}
	slices.SortFunc(keys, func(a, b StoredKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return keys, nil
}

// readFile returns the key in dir/name. The caller holds mu.
func (s *PEMStore) readFile(name string) (StoredKey, error) {
	path := filepath.Join(s.dir, name)
	activates, err := time.Parse(pemTimeLayout, strings.TrimSuffix(name, ".pem"))
	if err != nil {
		return StoredKey{}, fmt.Errorf("%s: the name must be the key's activation time in UTC, e.g. %s.pem", path, time.Now().UTC().Format(pemTimeLayout))
	}
	// Stat follows symbolic links, as Kubernetes secret volumes use.
	switch info, err := os.Stat(path); {
	case err != nil:
		return StoredKey{}, err
	case !info.Mode().IsRegular():
		return StoredKey{}, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return StoredKey{}, err
	}
	defer clear(b)
	sum := sha256.Sum256(b)
	if f, ok := s.files[name]; ok && f.sum == sum {
		return cloneStoredKey(f.key), nil
	}
	priv, err := parsePEMKey(b)
	if err != nil {
		return StoredKey{}, fmt.Errorf("%s: %w", path, err)
	}
	k, err := sealKey(s.kek, priv)
	if err != nil {
		return StoredKey{}, fmt.Errorf("%s: %w", path, err)
	}
	k.CreatedAt, k.ActivatesAt = activates, activates
	s.files[name] = pemFile{sum: sum, key: k}
	return cloneStoredKey(k), nil
}

// parsePEMKey decodes one unencrypted RSA private key. Its errors never
// quote the input.
func parsePEMKey(b []byte) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	defer clear(block.Bytes)
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("more than one PEM block: keep one key per file")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("the key is encrypted: store it unencrypted and protect the file instead")
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 key: %w", err)
		}
		priv = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		priv = rk
	default:
		return nil, fmt.Errorf("a %q PEM block, not an RSA private key", block.Type)
	}
	if err := checkBits(priv.N.BitLen()); err != nil {
		return nil, err
	}
	return priv, nil
}

// UpdateKeys implements Store: it always fails with ErrReadOnly.
func (s *PEMStore) UpdateKeys(context.Context, func([]StoredKey) ([]StoredKey, error)) error {
	return s.readOnly()
}

func (s *PEMStore) readOnly() error {
	return fmt.Errorf("%w: the keys in PEM directory %s are files: add one with GeneratePEM", ErrReadOnly, s.dir)
}

// GeneratePEM writes a new bits-bit RSA key to dir as a PKCS#8 PEM file
// named for activatesAt (UTC, to the second, e.g. 20261122T120000Z.pem),
// mode 0600, and returns its path. It refuses a name already taken (checked
// before the final rename, so it does not guard against a second writer
// racing for the same second). The file appears under its name complete or
// not at all, so instances reading the directory never see half a key.
//
// For a rotation that no verifier notices, activatesAt must be at least
// Schedule.ActivationDelay after the file has reached every instance; only
// a directory's first key may activate at once.
func GeneratePEM(dir string, bits int, activatesAt time.Time) (string, error) {
	if activatesAt.IsZero() {
		return "", errors.New("generate PEM signing key: no activation time")
	}
	priv, err := Generate(nil, bits)
	if err != nil {
		return "", fmt.Errorf("generate PEM signing key: %w", err)
	}
	return writePEM(dir, priv, activatesAt)
}

// writePEM is GeneratePEM after the key is generated.
func writePEM(dir string, priv *rsa.PrivateKey, activatesAt time.Time) (string, error) {
	path := filepath.Join(dir, activatesAt.UTC().Format(pemTimeLayout)+".pem")
	switch _, err := os.Lstat(path); {
	case err == nil:
		return "", fmt.Errorf("write PEM signing key: %s exists", path)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("write PEM signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("write PEM signing key: %w", err)
	}
	defer clear(der)
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(data)
	// CreateTemp makes the file 0600; its leading dot keeps ListKeys off it
	// until the rename gives it its name.
	f, err := os.CreateTemp(dir, ".generate-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write PEM signing key: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("write PEM signing key: %w", err)
	}
	return path, nil
}
