module github.com/lotgate/lotgate

go 1.26

require (
	github.com/fxamacker/cbor/v2 v2.7.0 // indirect
	github.com/mattn/go-sqlite3 v1.14.52 // indirect
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e // indirect
	github.com/veraison/go-cose v1.3.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	golang.org/x/crypto v0.43.0 // indirect
)
