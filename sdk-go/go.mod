module github.com/timerkernel/timerkernel/sdk-go

go 1.23
