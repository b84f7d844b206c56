{{- define "kd.labels" -}}
kubedirector.hpe.com/kdcluster: {{ .Values.cluster }}
kubedirector.hpe.com/kdapp: {{ .Values.app }}
kubedirector.hpe.com/appCatalog: local
app.kubernetes.io/name: {{ .Values.app }}
app.kubernetes.io/part-of: {{ .Values.cluster }}
app.kubernetes.io/managed-by: Helm
{{- end -}}
