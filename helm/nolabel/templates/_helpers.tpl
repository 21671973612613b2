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

{{/* Credentials of the store and MLflow from existing Secrets (never values), for every pod. */}}
{{- define "nolabel.storeEnv" -}}
{{- $s := .Values.secrets -}}
{{- if $s.s3.existingSecret }}
- name: NOLABEL_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.s3.existingSecret }}
      key: {{ $s.s3.accessKeyKey }}
- name: NOLABEL_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.s3.existingSecret }}
      key: {{ $s.s3.secretKeyKey }}
{{- if $s.s3.exportAwsVariables }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $s.s3.existingSecret }}
      key: {{ $s.s3.accessKeyKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.s3.existingSecret }}
      key: {{ $s.s3.secretKeyKey }}
{{- end }}
{{- end }}
{{- if $s.mlflow.existingSecret }}
- name: MLFLOW_TRACKING_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $s.mlflow.existingSecret }}
      key: {{ $s.mlflow.usernameKey }}
- name: MLFLOW_TRACKING_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s.mlflow.existingSecret }}
      key: {{ $s.mlflow.passwordKey }}
{{- end }}
{{- end }}

{{/* Labels of the score Jobs' pods: their own name, so no Service or PDB of the API selects them. */}}
{{- define "nolabel.scoreLabels" -}}
helm.sh/chart: {{ include "nolabel.chart" . }}
app.kubernetes.io/name: {{ printf "%s-score" (include "nolabel.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.score.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: score
app.kubernetes.io/part-of: nolabel
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The score image: repository@digest when a digest is set, else repository:tag. */}}
{{- define "nolabel.scoreImage" -}}
{{- $i := .Values.score.image }}
{{- if $i.digest }}
{{- printf "%s@%s" $i.repository $i.digest }}
{{- else }}
{{- printf "%s:%s" $i.repository ($i.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The pod of a score Job; call with (dict "root" $ "merge" bool). Every shard runs
`score --shard-count N` (its index from JOB_COMPLETION_INDEX, set by Kubernetes for an Indexed
Job); the merge runs the same command with --merge.
*/}}
{{- define "nolabel.scorePod" -}}
{{- $ := .root -}}
{{- $sc := $.Values.score -}}
metadata:
  labels:
    {{- include "nolabel.scoreLabels" $ | nindent 4 }}
    {{- with $sc.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $sc.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "nolabel.serviceAccountName" $ }}
  automountServiceAccountToken: false
  {{- with $sc.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ $.Values.podSecurityContext.runAsUser }}
    runAsGroup: {{ $.Values.podSecurityContext.runAsGroup }}
    fsGroup: {{ $.Values.podSecurityContext.fsGroup }}
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: {{ ternary "merge" "score" .merge }}
      image: {{ include "nolabel.scoreImage" $ | quote }}
      imagePullPolicy: {{ $sc.image.pullPolicy }}
      args:
        - score
        - --images
        - {{ $sc.images | quote }}
        - --out
        - {{ $sc.resultsUri | quote }}
        - --shard-count
        - {{ $sc.shards | quote }}
        {{- if .merge }}
        - --merge
        {{- end }}
        {{- with $sc.classifier }}
        - --classifier
        - {{ . | quote }}
        {{- end }}
        {{- with $sc.detector }}
        - --detector
        - {{ . | quote }}
        {{- end }}
        {{- range $sc.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "nolabel.fullname" $ }}
      env:
        - name: HOME
          value: /tmp
        - name: XDG_CACHE_HOME
          value: /tmp/.cache
        - name: MPLCONFIGDIR
          value: /tmp/matplotlib
        {{- include "nolabel.storeEnv" $ | nindent 8 }}
      resources:
        {{- toYaml (ternary $sc.mergeResources $sc.resources .merge) | nindent 8 }}
      securityContext:
        runAsNonRoot: true
        runAsUser: {{ $.Values.podSecurityContext.runAsUser }}
        runAsGroup: {{ $.Values.podSecurityContext.runAsGroup }}
        allowPrivilegeEscalation: false
        privileged: false
        readOnlyRootFilesystem: true
        capabilities:
          drop:
            - ALL
        seccompProfile:
          type: RuntimeDefault
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: nolabel-home
          mountPath: {{ $.Values.config.home }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $.Values.volumes.tmpSizeLimit }}
    - name: nolabel-home
      emptyDir:
        sizeLimit: {{ $sc.homeSizeLimit }}
  {{- with $sc.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sc.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sc.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
