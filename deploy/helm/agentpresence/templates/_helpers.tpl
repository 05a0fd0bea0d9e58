{{/* The chart's name, or nameOverride. */}}
{{- define "agentpresence.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resources' name: fullnameOverride, else release-chart (once). */}}
{{- define "agentpresence.fullname" -}}
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

{{- define "agentpresence.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentpresence.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentpresence.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "agentpresence.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "agentpresence.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agentpresence.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding APP_SECRET_KEY, APP_SECRET_KEY_PREVIOUS and DATABASE_URL. */}}
{{- define "agentpresence.secretName" -}}
{{- default (include "agentpresence.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
GOMEMLIMIT: with goMemLimit "auto", 90% of a memory limit given in Mi or Gi;
empty otherwise (a limit in other units: set goMemLimit yourself).
*/}}
{{- define "agentpresence.goMemLimit" -}}
{{- if eq (toString .Values.goMemLimit) "auto" }}
{{- $limit := toString (dig "limits" "memory" "" .Values.resources) }}
{{- if hasSuffix "Gi" $limit }}
{{- printf "%dMiB" (div (mul (trimSuffix "Gi" $limit | atoi) 1024 9) 10) }}
{{- else if hasSuffix "Mi" $limit }}
{{- printf "%dMiB" (div (mul (trimSuffix "Mi" $limit | atoi) 9) 10) }}
{{- end }}
{{- else }}
{{- .Values.goMemLimit }}
{{- end }}
{{- end }}
