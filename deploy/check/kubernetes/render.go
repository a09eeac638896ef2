package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// object is one rendered Kubernetes object: its JSON exactly as kustomize
// produced it (sent to the API server byte for byte) and a generic decoding
// of it for the checks made here.
type object struct {
	raw  []byte
	data map[string]any
	from string // the kustomization directory
}

func (o object) apiVersion() string { return str(o.data, "apiVersion") }
func (o object) kind() string       { return str(o.data, "kind") }
func (o object) name() string       { return str(o.data, "metadata", "name") }
func (o object) namespace() string  { return str(o.data, "metadata", "namespace") }

// group and version of the object's apiVersion; the core group is "".
func (o object) groupVersion() (string, string) {
	gv := o.apiVersion()
	if i := strings.IndexByte(gv, '/'); i >= 0 {
		return gv[:i], gv[i+1:]
	}
	return "", gv
}

func (o object) String() string {
	if ns := o.namespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s (%s)", o.kind(), ns, o.name(), o.from)
	}
	return fmt.Sprintf("%s %s (%s)", o.kind(), o.name(), o.from)
}

// render runs kustomize, as `kubectl apply -k dir` would, and returns every
// object it produces.
func render(dir string) ([]object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var objects []object
	for _, r := range resources.Resources() {
		raw, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		var data map[string]any
		if err := json.Unmarshal(raw, &data); err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		objects = append(objects, object{raw: raw, data: data, from: dir})
	}
	if len(objects) == 0 {
		return nil, fmt.Errorf("kustomize %s: no objects rendered", dir)
	}
	return objects, nil
}

func renderAll(dirs []string) ([]object, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no kustomization directory given")
	}
	var all []object
	for _, dir := range dirs {
		objects, err := render(dir)
		if err != nil {
			return nil, err
		}
		all = append(all, objects...)
	}
	return all, nil
}

// Accessors for generically decoded JSON: a missing or mistyped step gives
// the zero value, which the checks treat as absent.

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func dict(v any, path ...string) map[string]any {
	m, _ := get(v, path...).(map[string]any)
	return m
}
