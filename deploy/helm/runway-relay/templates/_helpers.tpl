{{/* The chart's name, and the release's full name (63 characters at most, as DNS wants). */}}
{{- define "runway-relay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "runway-relay.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "runway-relay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "runway-relay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "runway-relay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "runway-relay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "runway-relay.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "runway-relay.secretName" -}}
{{- default (include "runway-relay.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The fan-out runs in deliver pods on PostgreSQL, inside serve on SQLite. */}}
{{- define "runway-relay.separateDeliver" -}}
{{- if and .Values.postgresql.enabled .Values.deliver.enabled }}true{{ end }}
{{- end }}

{{/* What the chart refuses, each in words, before anything is applied. */}}
{{- define "runway-relay.checks" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.postgresql.enabled) }}
{{- fail (printf "replicaCount is %d, but SQLite serves one process per database file: set postgresql.enabled=true and postgresql.url for several replicas (docs/operations.md, \"Several replicas on PostgreSQL\")" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.url) }}
{{- fail "postgresql.enabled is true but postgresql.url is empty: give postgresql://USER@HOST:5432/DB (the password goes in the Secret as PGPASSWORD)" }}
{{- end }}
{{- $floor := add (int .Values.relay.drainSeconds) (int .Values.relay.shutdownGraceSeconds) 5 }}
{{- if le (int .Values.serve.terminationGracePeriodSeconds) (int $floor) }}
{{- fail (printf "serve.terminationGracePeriodSeconds must exceed relay.drainSeconds + relay.shutdownGraceSeconds + 5 (%d): pods would be killed mid-drain" (int $floor)) }}
{{- end }}
{{- if and (include "runway-relay.separateDeliver" .) (le (int .Values.deliver.terminationGracePeriodSeconds) (int .Values.relay.shutdownGraceSeconds)) }}
{{- fail "deliver.terminationGracePeriodSeconds must exceed relay.shutdownGraceSeconds: attempts in flight would be killed" }}
{{- end }}
{{- $probed := mul (int .Values.probes.readiness.periodSeconds) (int .Values.probes.readiness.failureThreshold) }}
{{- if lt (int .Values.relay.drainSeconds) (int $probed) }}
{{- fail (printf "relay.drainSeconds must be at least the readiness probe's periodSeconds x failureThreshold (%d): the pod would stop serving while still in the endpoints" (int $probed)) }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.service.port)) }}
{{- fail (printf "metrics.port and service.port are both %d: the Service needs a port each for http and metrics" (int .Values.service.port)) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled: the ServiceMonitor scrapes the port named metrics" }}
{{- end }}
{{- if and .Values.metrics.prometheusRule.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.prometheusRule.enabled needs metrics.enabled: its rules read what Prometheus scrapes from the port named metrics" }}
{{- end }}
{{- end }}
