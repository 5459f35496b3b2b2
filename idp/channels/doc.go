// Package channels sends a kind of message (idp/notify) to a person by mail
// or SMS, within limits: per recipient and per client address, counted in the
// database by idp/throttle so that every replica agrees, against mail
// bombing and SMS pumping. It turns channel failures into one error the
// pages can show (ErrSendFailed) and keeps the cause for the log.
//
// It is apart from idp/notify because notify may import no project package
// (ARCHITECTURE.md: the channels and templates are a leaf), while limits
// need idp/throttle, storage and the idp vocabulary (ThrottledError,
// InputError). The features that send — email verification, email and SMS
// codes, security notifications, password reset, recovery — call Service.
package channels
