module github.com/veeam-em-exporter/veeam_em_exporter/dashboards/schema

go 1.26.8

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
