package emsim

import (
	"fmt"
	"strings"
)

// The hard names exercise every escaping path between EM and a Prometheus
// label: XML attribute escaping, filter quoting, '@' in job names (which
// breaks naive parsing of "<job>@<timestamp>"), separators of the filter
// grammar, backslashes and non-ASCII text.
var (
	hardServerNames = []string{"vbr01.corp.local", "vbr-zürich-02.corp.local"}
	hardJobNames    = []string{
		"Replica@DR site",
		`SQL "Tier-1", prod; nightly`,
		`Réplica Genève\Dépôt <B> & C`,
	}
	hardVMNames = []string{
		`fs01, "legacy"`,
		"app;db",
		`C:\share\vm`,
		"Zürich-DC",
		"数据库-01",
		"web & <api>",
	}
)

// HardNames returns the awkward backup server, job and VM names that
// TestTopology and DemoTopology contain, in their replica jobs and in their
// backup jobs, so tests can assert that each one survives the trip through
// the exporter verbatim.
func HardNames() (backupServers, jobs, vms []string) {
	return append([]string(nil), hardServerNames...),
		append([]string(nil), hardJobNames...),
		append([]string(nil), hardVMNames...)
}

// siteNames names the servers, jobs and VMs of a site; the unnamed site
// keeps the plain names.
type siteNames struct {
	site string
}

func (n siteNames) server(index int) string {
	if n.site == "" {
		return fmt.Sprintf("vbr%02d.corp.local", index+1)
	}
	return fmt.Sprintf("vbr%02d.%s.corp.local", index+1, n.site)
}

func (n siteNames) replicaJob(index int) string {
	return n.job("Replication Job", index)
}

func (n siteNames) backupJob(index int) string {
	return n.job("Backup Job", index)
}

func (n siteNames) backupCopyJob(index int) string {
	return n.job("Backup Copy Job", index)
}

func (n siteNames) job(kind string, index int) string {
	if n.site == "" {
		return fmt.Sprintf("%s %d", kind, index+1)
	}
	return fmt.Sprintf("%s %s %d", strings.ToUpper(n.site), kind, index+1)
}

// special names a job or repository of which a site has one of a kind.
func (n siteNames) special(name string) string {
	if n.site == "" {
		return name
	}
	return strings.ToUpper(n.site) + " " + name
}

// share names the CIFS share of server index: a UNC path with a
// backslash and a dollar, and non-ASCII letters among the hard names.
func (n siteNames) share(index int, hard bool) string {
	switch {
	case hard && index == 1:
		return `\\nas-zürich-02\Sicherung$ Büro`
	case n.site != "":
		return fmt.Sprintf(`\\%s-nas%02d\veeam$`, n.site, index+1)
	}
	return fmt.Sprintf(`\\nas%02d\veeam$`, index+1)
}

func (n siteNames) vm(index int) string {
	name := fmt.Sprintf("%s%03d", vmRoles[index%len(vmRoles)], index/len(vmRoles)+1)
	if n.site == "" {
		return name
	}
	return n.site + "-" + name
}

var vmRoles = []string{"app", "web", "sql", "dc", "fs", "exch", "rds", "erp"}

var warningReasons = []string{
	"Changed block tracking cannot be enabled: one or more VM disks are independent.",
	"Unable to truncate transaction logs: the guest OS did not answer within 300 seconds.",
	"Replica disk is almost full: 4% of free space left on datastore \"ds-replica-02\".",
	"VM is running on a snapshot older than 7 days; consolidate it to keep replication fast.",
}

const brokenVMReason = "Error: Unable to process the VM: the source VM was not found in the inventory."

var failureReasons = []string{
	"Error: Failed to create VM snapshot. Timed out waiting for the operation to complete.",
	"Error: Cannot connect to the target host: the remote side closed the connection.",
	"Error: Not enough storage on the target datastore \"ds-replica-01\" to create the replica.",
	"Error: Unable to process the VM: the source VM was not found in the inventory.",
	"Error: Failed to open VDDK disk [ds01] vm/vm.vmdk; NFC storage connection is unavailable.",
}
