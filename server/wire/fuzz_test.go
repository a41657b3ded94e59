package wire

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParser checks that the parser never panics and that where a read ends
// does not matter: the input parsed whole, split in two at any offset, and
// byte by byte gives the same handler calls and the same error.
func FuzzParser(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c.in), uint16(len(c.in)/2), c.route)
	}
	for _, w := range corpusWrites(f) {
		f.Add(w, uint16(len(w)/3), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16, route bool) {
		c := parseCase{route: route, headers: true, limits: Limits{MaxControlLine: 256, MaxPayload: 1024}}
		whole, werr := runParse(t, c, [][]byte{in})
		at := int(split) % (len(in) + 1)
		halves, herr := runParse(t, c, [][]byte{in[:at], in[at:]})
		if !reflect.DeepEqual(whole, halves) || errKind(werr) != errKind(herr) {
			t.Fatalf("split at %d differs:\nwhole %q %v\nsplit %q %v", at, whole, werr, halves, herr)
		}
		var bytewise [][]byte
		for i := range in {
			bytewise = append(bytewise, in[i:i+1])
		}
		single, serr := runParse(t, c, bytewise)
		if !reflect.DeepEqual(whole, single) || errKind(werr) != errKind(serr) {
			t.Fatalf("byte by byte differs:\nwhole %q %v\nbytes %q %v", whole, werr, single, serr)
		}
	})
}

func errKind(err error) ErrKind {
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	return 0
}

// corpusWrites returns the client writes of the shared protocol corpus, as
// seeds. The corpus is optional here: the unit tests above stand alone.
func corpusWrites(f *testing.F) [][]byte {
	dir := os.Getenv("PROTOCOL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata", "protocol")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		var g struct {
			Cases []struct {
				Writes []struct {
					Data   *string `json:"data"`
					Data64 string  `json:"data_b64"`
				} `json:"writes"`
			} `json:"cases"`
		}
		if json.Unmarshal(b, &g) != nil {
			continue
		}
		for _, c := range g.Cases {
			var all []byte
			for _, w := range c.Writes {
				if w.Data != nil {
					all = append(all, *w.Data...)
				} else if d, err := base64.StdEncoding.DecodeString(w.Data64); err == nil {
					all = append(all, d...)
				}
			}
			out = append(out, all)
		}
	}
	return out
}
