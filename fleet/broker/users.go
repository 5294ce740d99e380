package broker

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"edgenas/agent/proto"
	"edgenas/internal/pki"
)

// User is one password account.
type User struct {
	Name string
	// Password is a plain password held in memory only (from the
	// environment or a test); Hash is a bcrypt hash (from a users file).
	// Exactly one is set.
	Password string
	Hash     []byte
	Role     Role
}

// maxUsersFile bounds a users file.
const maxUsersFile = 16 << 20

// HashPassword returns the bcrypt hash a users file stores for password.
func HashPassword(password string) ([]byte, error) {
	if password == "" {
		return nil, fmt.Errorf("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// check reports whether password is u's.
func (u User) check(password []byte) bool {
	if len(u.Hash) > 0 {
		return bcrypt.CompareHashAndPassword(u.Hash, password) == nil
	}
	return u.Password != "" && subtle.ConstantTimeCompare(password, []byte(u.Password)) == 1
}

func (u User) validate(i int) error {
	if u.Role != RoleHost && u.Role != RoleAgent {
		return fmt.Errorf("user %d (%q): role %q, want host or agent", i, u.Name, u.Role)
	}
	if u.Role == RoleAgent {
		if err := proto.ValidID(u.Name); err != nil {
			return fmt.Errorf("agent user: %w", err)
		}
	} else if u.Name == "" {
		return fmt.Errorf("user %d has no name", i)
	}
	if u.Password == "" && len(u.Hash) == 0 {
		return fmt.Errorf("user %q has an empty password", u.Name)
	}
	if len(u.Hash) > 0 {
		if _, err := bcrypt.Cost(u.Hash); err != nil {
			return fmt.Errorf("user %q: password hash: %w", u.Name, err)
		}
	}
	return nil
}

// ParseUsers reads accounts, one per line: "ROLE NAME BCRYPT-HASH" (ROLE is
// host or agent; `edgenas keys password` writes such lines); blank lines and
// lines starting with # are skipped. A plain password is refused: the file
// must not hold secrets a reader could reuse.
func ParseUsers(r io.Reader) ([]User, error) {
	var out []User
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("users line %d: want ROLE NAME BCRYPT-HASH, got %d fields", n, len(f))
		}
		u := User{Name: f[1], Hash: []byte(f[2]), Role: Role(f[0])}
		if _, err := bcrypt.Cost(u.Hash); err != nil {
			return nil, fmt.Errorf("users line %d: the password of %q is not a bcrypt hash (store hashes: edgenas keys password --users FILE --name %s)", n, u.Name, u.Name)
		}
		if err := u.validate(len(out)); err != nil {
			return nil, fmt.Errorf("users line %d: %w", n, err)
		}
		if prev, dup := seen[u.Name]; dup {
			return nil, fmt.Errorf("users line %d: %q already defined on line %d", n, u.Name, prev)
		}
		seen[u.Name] = n
		out = append(out, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return out, nil
}

// LoadUsers reads a users file (see ParseUsers).
func LoadUsers(path string) ([]User, error) {
	b, err := pki.ReadSmall(path, maxUsersFile)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	users, err := ParseUsers(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return users, nil
}

// FormatUser is the users-file line for a hashed account.
func FormatUser(u User) string { return string(u.Role) + " " + u.Name + " " + string(u.Hash) }
