module github.com/ionkit/ion/iongrpc

go 1.25

require github.com/ionkit/ion v0.0.0

replace github.com/ionkit/ion => ../
