module github.com/binproto/binproto

go 1.26
