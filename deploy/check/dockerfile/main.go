// Command dockerfile runs buildkit's Dockerfile checks (the rules of
// `docker build --check`) on a Dockerfile, offline: base images are never
// looked up in a registry, a stub answers every image-metadata request with
// an empty image of the requested platform.
//
// It prints each warning with its line numbers and exits 1 when there is a
// warning or the Dockerfile does not parse, 2 on a usage or I/O error, and 0
// when the file is clean.
//
// Usage (from the repository root):
//
//	go run ./deploy/check/dockerfile Dockerfile
//
// or, since this is a module of its own, from its directory with the path of
// the Dockerfile as argument.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/opencontainers/go-digest"
)

// offlineResolver stands in for the registry: every base image resolves to
// itself with an empty configuration of the platform asked for. The lint
// rules only need to know that the image exists and what platform it has.
type offlineResolver struct {
	asked []string
}

func (r *offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	r.asked = append(r.asked, ref)
	osName, arch, variant := runtime.GOOS, runtime.GOARCH, ""
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p := opt.ImageOpt.Platform
		osName, arch, variant = p.OS, p.Architecture, p.Variant
	}
	config := map[string]any{
		"os":           osName,
		"architecture": arch,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{}},
		"config":       map[string]any{},
	}
	if variant != "" {
		config["variant"] = variant
	}
	dt, err := json.Marshal(config)
	return ref, "", dt, err
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-v] [Dockerfile]\n", os.Args[0])
		flag.PrintDefaults()
	}
	verbose := flag.Bool("v", false, "also list the base images the stub resolver answered for")
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	path := "Dockerfile"
	if flag.NArg() == 1 {
		path = flag.Arg(0)
	}
	os.Exit(run(path, *verbose))
}

func run(path string, verbose bool) int {
	dt, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	// The source map names the file in the results; like buildkit's own
	// frontend, it points at a local source that holds the Dockerfile.
	src := llb.Local("dockerfile")
	def, err := src.Marshal(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	sourceMap := llb.NewSourceMap(&src, path, "Dockerfile", dt)
	sourceMap.Definition = def
	resolver := &offlineResolver{}
	results, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sourceMap,
		MetaResolver: resolver,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: lint: %v\n", path, err)
		return 2
	}
	if verbose {
		fmt.Printf("%s: stub resolver answered for %s\n", path, strings.Join(resolver.asked, ", "))
	}
	status := 0
	if results.Error != nil {
		fmt.Printf("%s%s: error: %s\n", path, lines(results.Error.Location.Ranges), results.Error.Message)
		status = 1
	}
	for _, w := range results.Warnings {
		var where string
		if w.Location != nil {
			where = lines(w.Location.Ranges)
		}
		fmt.Printf("%s%s: %s: %s", path, where, w.RuleName, w.Detail)
		if w.URL != "" {
			fmt.Printf(" (%s)", w.URL)
		}
		fmt.Println()
		status = 1
	}
	if status == 0 {
		fmt.Printf("%s: no warnings from buildkit's checks\n", path)
	}
	return status
}

// lines formats the line ranges of a location as ":3" or ":3-5,9".
func lines(ranges []*pb.Range) string {
	var parts []string
	for _, r := range ranges {
		if r == nil || r.Start == nil {
			continue
		}
		start, end := r.Start.Line, r.Start.Line
		if r.End != nil && r.End.Line > start {
			end = r.End.Line
		}
		if start == end {
			parts = append(parts, fmt.Sprint(start))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", start, end))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ":" + strings.Join(parts, ",")
}
