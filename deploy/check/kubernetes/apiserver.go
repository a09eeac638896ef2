package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

func cmdFreePorts(args []string) error {
	fs := flag.NewFlagSet("freeports", flag.ContinueOnError)
	n := fs.Int("n", 1, "how many ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// All listeners stay open until every port is chosen, so the ports differ.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var ports []string
	for range *n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

func cmdGenKey(args []string) error {
	fs := flag.NewFlagSet("genkey", flag.ContinueOnError)
	keyFile := fs.String("key", "", "private key file to write")
	pubFile := fs.String("pub", "", "public key file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(*pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// client talks to the API server with a bearer token, trusting only the
// certificate the server generated for itself in --cert-dir.
type client struct {
	server string
	token  string
	http   *http.Client
}

func connFlags(fs *flag.FlagSet) func() (*client, error) {
	server := fs.String("server", "", "API server base URL")
	token := fs.String("token", "", "bearer token")
	ca := fs.String("ca", "", "PEM file of the certificate(s) to trust; empty: plain HTTP or system roots")
	return func() (*client, error) {
		if *server == "" {
			return nil, errors.New("-server is required")
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if *ca != "" {
			pemBytes, err := os.ReadFile(*ca)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("%s holds no certificate", *ca)
			}
			transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		return &client{server: strings.TrimSuffix(*server, "/"), token: *token,
			http: &http.Client{Transport: transport, Timeout: 30 * time.Second}}, nil
	}
}

// do sends a request and returns the status, the body and the server's
// warnings.
func (c *client) do(method, path string, body []byte) (int, []byte, []string, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, c.server+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, data, resp.Header.Values("Warning"), err
}

// statusMessage is the message of a metav1.Status answer, with its causes
// when the message does not already carry them; else the raw body.
func statusMessage(code int, body []byte) string {
	var status struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Details struct {
			Causes []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"causes"`
		} `json:"details"`
	}
	if json.Unmarshal(body, &status) != nil || status.Kind != "Status" {
		return fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
	}
	msg := fmt.Sprintf("HTTP %d %s: %s", code, status.Reason, status.Message)
	for _, c := range status.Details.Causes {
		if !strings.Contains(status.Message, c.Message) {
			msg += fmt.Sprintf("\n      cause: %s: %s", c.Field, c.Message)
		}
	}
	return msg
}

func alive(pid int) bool {
	return pid <= 0 || syscall.Kill(pid, 0) == nil
}

func cmdWait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	conn := connFlags(fs)
	path := fs.String("path", "/readyz", "path to poll")
	pid := fs.Int("pid", 0, "give up at once when this process has exited")
	what := fs.String("what", "server", "what is awaited, for messages")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := conn()
	if err != nil {
		return err
	}
	c.http.Timeout = 5 * time.Second
	deadline := time.Now().Add(*timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if !alive(*pid) {
			return fmt.Errorf("%s exited before %s answered 200 (last: %s)", *what, *path, last)
		}
		code, body, _, err := c.do(http.MethodGet, *path, nil)
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK:
			return nil
		default:
			last = fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s did not answer 200 within %s (last: %s)", *what, *path, *timeout, last)
}

// resourceInfo is what discovery says of a kind: its resource name and scope.
type resourceInfo struct {
	name       string
	namespaced bool
}

// discover returns the kinds the server serves in group/version, or nil
// when it does not serve the group version at all.
func (c *client) discover(group, version string) (map[string]resourceInfo, error) {
	path := "/apis/" + group + "/" + version
	if group == "" {
		path = "/api/" + version
	}
	code, body, _, err := c.do(http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotFound {
		return nil, nil
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("discovery of %s: %s", path, statusMessage(code, body))
	}
	var list struct {
		Resources []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", path, err)
	}
	kinds := map[string]resourceInfo{}
	for _, r := range list.Resources {
		if !strings.Contains(r.Name, "/") { // not a subresource
			kinds[r.Kind] = resourceInfo{name: r.Name, namespaced: r.Namespaced}
		}
	}
	return kinds, nil
}

func cmdCRDs(args []string) error {
	fs := flag.NewFlagSet("crds", flag.ContinueOnError)
	conn := connFlags(fs)
	dir := fs.String("crd-dir", "", "directory of CustomResourceDefinition YAML files")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the CRDs to be established")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := conn()
	if err != nil {
		return err
	}
	objects, err := renderAll(fs.Args())
	if err != nil {
		return err
	}
	// The group/version/kinds the rendered objects use that the server does
	// not serve yet.
	type gvk struct{ group, version, kind string }
	missing := map[gvk]bool{}
	served := map[string]map[string]resourceInfo{}
	for _, o := range objects {
		g, v := o.groupVersion()
		kinds, ok := served[g+"/"+v]
		if !ok {
			if kinds, err = c.discover(g, v); err != nil {
				return err
			}
			served[g+"/"+v] = kinds
		}
		if _, ok := kinds[o.kind()]; !ok {
			missing[gvk{g, v, o.kind()}] = true
		}
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRD files in %s", *dir)
	}
	var created []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		raw, err := yaml.YAMLToJSON(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		var crd map[string]any
		if err := json.Unmarshal(raw, &crd); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if str(crd, "kind") != "CustomResourceDefinition" {
			continue
		}
		group, kind := str(crd, "spec", "group"), str(crd, "spec", "names", "kind")
		needed := false
		for _, v := range list(crd, "spec", "versions") {
			if missing[gvk{group, str(v, "name"), kind}] {
				needed = true
				delete(missing, gvk{group, str(v, "name"), kind})
			}
		}
		if !needed {
			continue
		}
		code, body, _, err := c.do(http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", raw)
		if err != nil {
			return err
		}
		if code != http.StatusCreated && code != http.StatusConflict {
			return fmt.Errorf("create CRD from %s: %s", filepath.Base(file), statusMessage(code, body))
		}
		name := str(crd, "metadata", "name")
		fmt.Printf("CRD %s (from %s)\n", name, filepath.Base(file))
		created = append(created, name)
	}
	if len(missing) > 0 {
		var names []string
		for k := range missing {
			names = append(names, fmt.Sprintf("%s/%s %s", k.group, k.version, k.kind))
		}
		sort.Strings(names)
		return fmt.Errorf("neither the API server nor %s provides: %s", *dir, strings.Join(names, ", "))
	}
	deadline := time.Now().Add(*timeout)
	for _, name := range created {
		for {
			code, body, _, err := c.do(http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+url.PathEscape(name), nil)
			if err != nil {
				return err
			}
			var crd map[string]any
			if code == http.StatusOK && json.Unmarshal(body, &crd) == nil && established(crd) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established within %s", name, *timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func established(crd map[string]any) bool {
	for _, cond := range list(crd, "status", "conditions") {
		if str(cond, "type") == "Established" && str(cond, "status") == "True" {
			return true
		}
	}
	return false
}

func cmdDryRun(args []string) error {
	fs := flag.NewFlagSet("dryrun", flag.ContinueOnError)
	conn := connFlags(fs)
	timeout := fs.Duration("discovery-timeout", 30*time.Second, "how long a kind may take to appear in discovery (fresh CRDs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := conn()
	if err != nil {
		return err
	}
	objects, err := renderAll(fs.Args())
	if err != nil {
		return err
	}
	// Namespaces are created for real: a dry run does not persist one, and
	// the namespaced objects would then be refused for want of it.
	namespaces := map[string]bool{}
	for _, o := range objects {
		if ns := o.namespace(); ns != "" && !namespaces[ns] {
			namespaces[ns] = true
			body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})
			code, resp, _, err := c.do(http.MethodPost, "/api/v1/namespaces", body)
			if err != nil {
				return err
			}
			if code != http.StatusCreated && code != http.StatusConflict {
				return fmt.Errorf("create namespace %s: %s", ns, statusMessage(code, resp))
			}
		}
	}
	served := map[string]map[string]resourceInfo{}
	failures := 0
	for _, o := range objects {
		g, v := o.groupVersion()
		var info resourceInfo
		deadline := time.Now().Add(*timeout)
		for {
			kinds, ok := served[g+"/"+v]
			if !ok {
				if kinds, err = c.discover(g, v); err != nil {
					return err
				}
			}
			var found bool
			if info, found = kinds[o.kind()]; found {
				served[g+"/"+v] = kinds
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: the API server does not serve %s %s", o, o.apiVersion(), o.kind())
			}
			time.Sleep(250 * time.Millisecond)
		}
		path := "/apis/" + g + "/" + v
		if g == "" {
			path = "/api/" + v
		}
		if info.namespaced {
			if o.namespace() == "" {
				fmt.Printf("FAIL: %s: namespaced kind without a namespace (the kustomization sets none)\n", o)
				failures++
				continue
			}
			path += "/namespaces/" + url.PathEscape(o.namespace())
		}
		path += "/" + info.name + "?dryRun=All&fieldValidation=Strict"
		code, body, warnings, err := c.do(http.MethodPost, path, o.raw)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Printf("  warning: %s: %s\n", o, w)
		}
		if code != http.StatusCreated && code != http.StatusOK {
			fmt.Printf("FAIL: %s: the API server refused it:\n      %s\n", o, statusMessage(code, body))
			failures++
			continue
		}
		fmt.Printf("ok   %s\n", o)
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d objects refused by the API server (server-side dry run, strict field validation)", failures, len(objects))
	}
	fmt.Printf("all %d objects accepted (server-side dry run, strict field validation)\n", len(objects))
	return nil
}
