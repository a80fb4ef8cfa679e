// Package covgate serves the coverage of a Go program built with -cover
// (Go 1.20+) to a covgate gateway, from inside the process.
//
// Handler implements the covgate exporter protocol (docs/contract.md §1):
// GET returns the covgate envelope with format "gocovdata", whose data are
// the program's own coverage files as runtime/coverage writes them
// (WriteMeta, WriteCounters) into memory: {"meta": base64, "counters":
// [base64]}. The meta-data hash is the envelope's "structure": when the
// gateway sends X-Covgate-Known-Structure with that hash, the reply carries
// the counters only. POST <path>/reset zeroes the counters with
// runtime/coverage.ClearCounters, which Go allows only in binaries built
// with -covermode=atomic.
//
// The package uses the standard library only. Import
// github.com/covgate/covgate/exporters/go/autostart for a listener and
// self-registration configured from the environment.
package covgate

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/coverage"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// EnvelopeContentType is the media type of the covgate envelope.
const EnvelopeContentType = "application/vnd.covgate.v1+json"

var (
	instance  = newInstance()
	startTime = time.Now().UTC().Format(time.RFC3339Nano)

	metaMu   sync.Mutex
	metaData []byte
	metaHash string
)

func newInstance() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return time.Now().UTC().Format("20060102T150405.000000000")
	}
	// A UUID v4 string, like the other exporters' instance ids.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Instance is this process's lifetime id (a UUID made at start), sent as the envelope's "instance".
func Instance() string { return instance }

// meta returns the meta-data file of this binary and its hash (bytes 24..40 of the file,
// MetaFileHeader.MetaFileHash, also the hash in GOCOVERDIR file names). It is written
// once: it never changes while the process runs. Errors are not kept: the Go runtime
// computes the meta-data at the end of package initialisation, so a request that comes
// before that (or in a binary without -cover) fails and a later one succeeds.
func meta() ([]byte, string, error) {
	metaMu.Lock()
	defer metaMu.Unlock()
	if metaData != nil {
		return metaData, metaHash, nil
	}
	var buf bytes.Buffer
	if err := coverage.WriteMeta(&buf); err != nil {
		return nil, "", err
	}
	if buf.Len() < 40 {
		return nil, "", errors.New("covgate: meta-data too short")
	}
	metaData = buf.Bytes()
	metaHash = hex.EncodeToString(metaData[24:40])
	return metaData, metaHash, nil
}

// BuiltWithCover reports whether the binary's build settings say -cover (readable
// during package initialisation, before runtime/coverage has its meta-data).
func BuiltWithCover() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-cover" {
			return s.Value == "true"
		}
	}
	return false
}

// Enabled reports whether runtime/coverage has meta-data (a -cover binary, after package initialisation).
func Enabled() bool {
	_, _, err := meta()
	return err == nil
}

// MetaHash is the binary's coverage meta-data hash (the envelope's "structure"), or "" without -cover.
func MetaHash() string {
	_, h, _ := meta()
	return h
}

func buildInfo() map[string]string {
	out := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		out["version"] = v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			out["commit"] = s.Value
		}
	}
	out["go"] = bi.GoVersion
	if v := os.Getenv("COVGATE_BUILD_VERSION"); v != "" {
		out["version"] = v
	}
	if v := os.Getenv("COVGATE_BUILD_COMMIT"); v != "" {
		out["commit"] = v
	}
	// The diff that led to this build, for the gateway to carry coverage across builds without a repository.
	if f := os.Getenv("COVGATE_BUILD_DIFF_FILE"); f != "" {
		if b, err := os.ReadFile(f); err == nil {
			out["diff"] = string(b)
		} else {
			fmt.Fprintf(os.Stderr, "covgate: COVGATE_BUILD_DIFF_FILE: %v\n", err)
		}
	}
	if v := os.Getenv("COVGATE_BUILD_DIFF_BASE"); v != "" {
		out["diff_base"] = v
	}
	return out
}

type envelope struct {
	Format    string            `json:"format"`
	Instance  string            `json:"instance"`
	StartTime string            `json:"startTime"`
	Build     map[string]string `json:"build,omitempty"`
	Counters  string            `json:"counters"`
	Structure string            `json:"structure"`
	Data      payload           `json:"data"`
}

type payload struct {
	Meta     string   `json:"meta,omitempty"`
	Counters []string `json:"counters"`
}

// ErrNotCovered is returned (and served as 501) when the binary was built without -cover.
var ErrNotCovered = errors.New("covgate: binary not built with -cover (no coverage meta-data)")

// Snapshot returns the current coverage envelope; counters only when knownStructure is
// the binary's meta hash.
func Snapshot(knownStructure string) ([]byte, error) {
	m, hash, err := meta()
	if err != nil {
		return nil, ErrNotCovered
	}
	var counters bytes.Buffer
	if err := coverage.WriteCounters(&counters); err != nil {
		// Go serves live counters only from -covermode=atomic binaries.
		return nil, fmt.Errorf("covgate: reading counters needs a binary built with -covermode=atomic: %w", err)
	}
	env := envelope{
		Format:    "gocovdata",
		Instance:  instance,
		StartTime: startTime,
		Build:     buildInfo(),
		Counters:  "cumulative",
		Structure: hash,
		Data:      payload{Counters: []string{base64.StdEncoding.EncodeToString(counters.Bytes())}},
	}
	if knownStructure != hash {
		env.Data.Meta = base64.StdEncoding.EncodeToString(m)
	}
	return json.Marshal(env)
}

// Reset zeroes the coverage counters (runtime/coverage.ClearCounters: needs -covermode=atomic).
func Reset() error {
	if !Enabled() {
		return ErrNotCovered
	}
	return coverage.ClearCounters()
}

func writeError(w http.ResponseWriter, status int, errorType string, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"status": "error", "errorType": errorType, "error": msg})
	w.Write(b)
}

// Handler serves the exporter protocol: GET (or HEAD) anywhere it is mounted returns the
// coverage; POST to a path ending in /reset zeroes the counters (204). Mount it at
// /coverage and /coverage/reset:
//
//	mux.Handle("/coverage", covgate.Handler())
//	mux.Handle("/coverage/reset", covgate.Handler())
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/reset") {
			if r.Method != http.MethodPost {
				writeError(w, http.StatusMethodNotAllowed, "bad_data", "use POST")
				return
			}
			if err := Reset(); err != nil {
				if errors.Is(err, ErrNotCovered) {
					writeError(w, http.StatusNotImplemented, "unavailable", err.Error())
					return
				}
				// ClearCounters refuses binaries not built with -covermode=atomic.
				writeError(w, http.StatusConflict, "bad_data", "reset needs a binary built with -covermode=atomic: "+err.Error())
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "bad_data", "use GET")
			return
		}
		body, err := Snapshot(r.Header.Get("X-Covgate-Known-Structure"))
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, ErrNotCovered) {
				status = http.StatusNotImplemented
			}
			writeError(w, status, "unavailable", err.Error())
			return
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		h := w.Header()
		h.Set("Content-Type", EnvelopeContentType)
		h.Set("ETag", etag)
		h.Set("X-Coverage-Instance", instance)
		h.Set("Vary", "Accept-Encoding, X-Covgate-Known-Structure")
		h.Set("Cache-Control", "no-cache")
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && len(body) > 1024 {
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			_, _ = io.Copy(gz, bytes.NewReader(body))
			_ = gz.Close()
			return
		}
		w.Write(body)
	})
}
