// Command composecheck loads a Compose file with the Compose specification's
// reference loader (compose-go) in its strictest form and checks what the
// loader leaves to the runtime:
//
//   - the file validates against the Compose JSON schema, so an unknown key
//     (a typo such as `restar:`) or a value of the wrong type is an error;
//     compose-go validates unless Options.SkipValidation is set, and the
//     schema declares additionalProperties false everywhere but x-* keys;
//   - the loader prints no warning (an unset variable without a default, an
//     obsolete `version:`): every warning is turned into an error;
//   - every bind-mount source, build context and Dockerfile, env_file and
//     secret or config file exists, relative to the Compose file's directory;
//   - every container path given to a service in its command or environment
//     (--config.file=/etc/prometheus/prometheus.yml) that lies under one of
//     its bind mounts exists on the host side of that mount, and every
//     --*config.file= argument lies in one (else the image's own default
//     configuration would be used);
//   - every image is pinned: an explicit tag other than latest, or a digest.
//     An image pulled from a registry (a service without build:) needs a
//     version tag, one with a digit in it: stable, main or edge move as much
//     as latest does. A service with build: names the image it builds, which
//     is never pulled, so any explicit tag but latest (veeam_em_exporter:local)
//     is accepted there;
//   - Grafana's provisioning files mounted into a service at
//     /etc/grafana/provisioning decode strictly (known keys only) with the
//     keys Grafana needs, a datasource URL names a service of the file, and a
//     dashboard provider's path is a mounted directory holding dashboards.
//
// Usage:
//
//	composecheck [-layout DIR] docker-compose.yml
//
// With -layout, every bind mount of every service is copied to
// DIR/<service>/<container path>, so that each configuration can be checked
// by its own tool where it finds the files it references, as in the
// container. Prints one line per problem, "FAIL: ...", and exits 1 if there
// is any; prints a one-line summary and exits 0 otherwise.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	layout := flag.String("layout", "", "copy each service's bind mounts to `DIR`/<service>/<container path>")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: composecheck [-layout DIR] docker-compose.yml\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	file, err := filepath.Abs(flag.Arg(0))
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
	content, err := os.ReadFile(file)
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
	report, problems := Check(file, content)
	if len(problems) == 0 && *layout != "" {
		problems = append(problems, WriteLayout(report.Project, *layout)...)
	}
	for _, p := range problems {
		fmt.Printf("FAIL: %s\n", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Println(report.Summary(flag.Arg(0)))
}

// WriteLayout copies every bind mount of every service to
// dir/<service>/<target>, files and directories alike.
func WriteLayout(p project, dir string) []string {
	var problems []string
	for _, name := range p.ServiceNames() {
		for _, v := range p.Services[name].Volumes {
			if v.Type != "bind" {
				continue
			}
			dst := filepath.Join(dir, name, filepath.FromSlash(v.Target))
			if err := copyTree(v.Source, dst); err != nil {
				problems = append(problems, fmt.Sprintf("service %s: copying %s to the layout: %v", name, v.Source, err))
			}
		}
	}
	return problems
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is neither a file nor a directory", path)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// plural returns "n things" with an s only when n != 1.
func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(what, "s"))
}
