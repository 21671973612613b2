{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "nolabel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already contains the chart name. */}}
{{- define "nolabel.fullname" -}}
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

{{- define "nolabel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nolabel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nolabel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nolabel.labels" -}}
helm.sh/chart: {{ include "nolabel.chart" . }}
{{ include "nolabel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: serve
app.kubernetes.io/part-of: nolabel
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nolabel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nolabel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "nolabel.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* S3 endpoint: the configured one, else the bundled MinIO's service when enabled. */}}
{{- define "nolabel.s3Endpoint" -}}
{{- if .Values.config.s3.endpoint }}
{{- .Values.config.s3.endpoint }}
{{- else if .Values.minio.enabled }}
{{- printf "%s-minio:9000" .Release.Name }}
{{- end }}
{{- end }}

{{/* MLflow tracking URI: the configured one, else the bundled MLflow's service when enabled. */}}
{{- define "nolabel.trackingUri" -}}
{{- if .Values.config.mlflow.trackingUri }}
{{- .Values.config.mlflow.trackingUri }}
{{- else if .Values.mlflow.enabled }}
{{- printf "http://%s-mlflow:5000" .Release.Name }}
{{- end }}
{{- end }}
