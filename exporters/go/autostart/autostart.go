// Package autostart starts the covgate exporter from the environment when imported:
//
//	import _ "github.com/covgate/covgate/exporters/go/autostart"
//
// In a binary built with -cover it listens on COVGATE_LISTEN (host:port, e.g.
// ":9100"; "127.0.0.1:0" picks a free port), serves GET /coverage and POST
// /coverage/reset, and, when COVGATE_GATEWAY is set, registers the target
// with the gateway (job COVGATE_JOB, default COVGATE_SERVICE or "go"; labels
// COVGATE_LABELS "k=v,k2=v2"; COVGATE_SERVICE as the service label; lease
// COVGATE_TTL, default 60s; COVGATE_TOKEN as bearer token; the URL the
// gateway scrapes is COVGATE_URL, or http://<listen address> with an
// unspecified host replaced by the host name). Without -cover, or without
// COVGATE_LISTEN, it does nothing. It logs one line to stderr:
// "covgate exporter: serving coverage on http://host:port/coverage".
package autostart

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	covgate "github.com/covgate/covgate/exporters/go"
)

// Registration is the running self-registration, or nil.
var Registration *covgate.Registration

// URL is the base URL the exporter serves on, or "" when it did not start.
var URL string

func init() {
	listen := os.Getenv("COVGATE_LISTEN")
	if listen == "" || !covgate.BuiltWithCover() {
		return
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "covgate exporter: cannot listen on %s: %v\n", listen, err)
		return
	}
	mux := http.NewServeMux()
	h := covgate.Handler()
	mux.Handle("/coverage", h)
	mux.Handle("/coverage/reset", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	URL = os.Getenv("COVGATE_URL")
	if URL == "" {
		URL = "http://" + advertised(ln.Addr().(*net.TCPAddr))
	}
	URL = strings.TrimRight(URL, "/")
	fmt.Fprintf(os.Stderr, "covgate exporter: serving coverage on %s/coverage (instance %s)\n", URL, covgate.Instance())

	gateway := os.Getenv("COVGATE_GATEWAY")
	if gateway == "" {
		return
	}
	labels := map[string]string{}
	for _, pair := range strings.Split(os.Getenv("COVGATE_LABELS"), ",") {
		if k, v, ok := strings.Cut(pair, "="); ok && strings.TrimSpace(k) != "" {
			labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	service := os.Getenv("COVGATE_SERVICE")
	if service != "" {
		labels["service"] = service
	}
	job := os.Getenv("COVGATE_JOB")
	if job == "" {
		job = service
	}
	if job == "" {
		job = "go"
	}
	ttl := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("COVGATE_TTL")); err == nil && d > 0 {
		ttl = d
	}
	Registration = &covgate.Registration{
		Gateway: gateway,
		Job:     job,
		URL:     URL,
		Labels:  labels,
		TTL:     ttl,
		Token:   os.Getenv("COVGATE_TOKEN"),
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		},
	}
	Registration.Start()
}

func advertised(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			return net.JoinHostPort(h, fmt.Sprint(a.Port))
		}
	}
	return a.String()
}
