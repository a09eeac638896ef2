// Command k8scheck is the Go half of deploy/kubernetes/validate.sh: it renders
// the kustomizations, talks to the throw-away kube-apiserver the script
// starts, and checks the manifests against the exporter binary. It needs no
// kubectl and no kustomize binary.
//
// Subcommands:
//
//	freeports -n N                      print N free loopback TCP ports
//	genkey -key F -pub F                write an RSA key pair (PEM) for service accounts
//	wait -url U [conn] [-pid P]         poll U until it answers 200
//	crds [conn] -crd-dir D KDIR...      create the CRDs the rendered objects need
//	dryrun [conn] KDIR...               create namespaces, dry-run every object strictly
//	consistency -exporter BIN KDIR...   check args, env, ports and paths against the binary
//
// [conn] is -server URL -token T -ca FILE.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8scheck freeports|genkey|wait|crds|dryrun|consistency [flags] [kustomization dir...]")
		os.Exit(2)
	}
	commands := map[string]func([]string) error{
		"freeports":   cmdFreePorts,
		"genkey":      cmdGenKey,
		"wait":        cmdWait,
		"crds":        cmdCRDs,
		"dryrun":      cmdDryRun,
		"consistency": cmdConsistency,
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "k8scheck: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		os.Exit(1)
	}
}
