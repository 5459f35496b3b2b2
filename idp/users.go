package idp

// NewUser is what an admin, the setup page or the config file supplies to
// create an account.
type NewUser struct {
	Username string
	Email    string
	Password string
	Groups   []string
	Admin    bool
}
