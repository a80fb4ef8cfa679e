module github.com/covgate/covgate/exporters/go

go 1.20
