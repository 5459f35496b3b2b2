package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// goldenKey is bytes 0x00..0x1f. The derived values below were computed with
// an independent HKDF implementation (Python hmac/hashlib), checked against
// RFC 5869 test case 3, so they pin both the algorithm and our labels: data
// at rest depends on them never changing.
var goldenKey = func() []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}()

const (
	goldenKeyB64       = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	goldenKeyID        = "887ffc85"
	goldenSubKeyTOTP   = "0ccec097d31c0c5e5329ab346c0a72a19bdfc80ef98e28a6899ee27c5d087efe"
	goldenSecretHashed = "hmac-sha256$887ffc85$zhVJvWx8MKT7DQpdbvg1gNJrZijLxGXWfQKcAtxXjUg" // purpose "client-secret", secret "s3cret"
)

func TestParseKey(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(goldenKey)
	// A key whose encoding uses the characters that differ between alphabets.
	odd := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:KeySize]
	oddStd := base64.StdEncoding.EncodeToString(odd)
	oddURL := base64.URLEncoding.EncodeToString(odd)

	valid := []struct {
		name string
		in   string
		want []byte
	}{
		{"standard padded base64 is accepted", std, goldenKey},
		{"standard unpadded base64 is accepted", strings.TrimRight(std, "="), goldenKey},
		{"the URL alphabet is accepted", oddURL, odd},
		{"the URL alphabet without padding is accepted", strings.TrimRight(oddURL, "="), odd},
		{"the standard alphabet with + and / is accepted", oddStd, odd},
		{"surrounding whitespace and a trailing newline are trimmed", " \t" + std + "\r\n", goldenKey},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey(tc.in)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("ParseKey = %x, want %x", got, tc.want)
			}
		})
	}

	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), KeySize-1))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), KeySize+1))
	invalid := []struct {
		name string
		in   string
	}{
		{"an empty string is refused", ""},
		{"31 bytes are refused", short},
		{"33 bytes are refused", long},
		{"a character outside base64 is refused", "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5!="},
		{"a line break inside the key is refused", std[:20] + "\n" + std[20:]},
		{"a space inside the key is refused", std[:20] + " " + std[20:]},
		{"mixed alphabets are refused", "+" + strings.TrimRight(oddURL, "=")[1:]},
		{"wrong padding is refused", strings.TrimRight(std, "=") + "=="},
		{"non-zero trailing bits are refused", std[:42] + "9="},
		{"hex is refused", strings.Repeat("ab", KeySize)},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParseKey(tc.in)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey = %x, %v; want ErrInvalidKey", key, err)
			}
			if trimmed := strings.TrimSpace(tc.in); len(trimmed) >= 8 && strings.Contains(err.Error(), trimmed[:8]) {
				t.Fatalf("error %q contains the key text", err)
			}
		})
	}
}

func TestGenerateAndEncodeKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != KeySize || bytes.Equal(a, b) {
		t.Fatalf("GenerateKey gave %d bytes, two calls equal: %v", len(a), bytes.Equal(a, b))
	}
	if got := EncodeKey(goldenKey); got != goldenKeyB64 {
		t.Fatalf("EncodeKey = %q, want %q", got, goldenKeyB64)
	}
	back, err := ParseKey(EncodeKey(a))
	if err != nil || !bytes.Equal(back, a) {
		t.Fatalf("ParseKey(EncodeKey(k)) = %x, %v; want %x", back, err, a)
	}
}
