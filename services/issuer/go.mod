module github.com/gatepass/gatepass/services/issuer

go 1.26.8

replace github.com/gatepass/gatepass/pkg => ../../pkg
