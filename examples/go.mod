module github.com/binproto/binproto/examples

go 1.26

require github.com/binproto/binproto v0.0.0

replace github.com/binproto/binproto => ../
