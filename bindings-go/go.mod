module github.com/circuit-rs/circuit/bindings-go

go 1.24.0

require github.com/sony/gobreaker/v2 v2.4.0
