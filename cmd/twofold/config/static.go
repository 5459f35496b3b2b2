package config

import (
	"time"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

// Static is what the file declares, in the domain's terms, for directory.ApplyStatic. Call it on a
// validated Config. A default_policy of "none" stays "none" (the file declares that there is no default);
// an empty one means the file does not declare it.
func (c *Config) Static() directory.Static {
	st := directory.Static{DefaultPolicy: c.DefaultPolicy}
	for _, p := range c.Policies {
		dp, _ := p.toPolicy() // validated
		st.Policies = append(st.Policies, dp)
	}
	for _, g := range c.Groups {
		st.Groups = append(st.Groups, g.toGroup())
	}
	for _, cl := range c.Clients {
		st.Clients = append(st.Clients, cl.toSpec())
	}
	for _, u := range c.Users {
		st.Users = append(st.Users, u.toNewUser())
	}
	return st
}

func (p Policy) toPolicy() (policy.Policy, error) {
	methods := make([]policy.Method, len(p.Methods))
	for i, m := range p.Methods {
		methods[i] = policy.Method(m)
	}
	level, err := policy.ParseLevel(p.MinLevel)
	return policy.Policy{
		Name: p.Name, RequireMFA: policy.Requirement(p.RequireMFA), Methods: methods,
		MFAMaxAge: time.Duration(p.MFAMaxAge), RememberDevice: time.Duration(p.RememberDevice),
		Enrollment: policy.Enrollment(p.Enrollment), MinLevel: level, Clients: p.Clients,
		RequireVerifiedEmail: p.RequireVerifiedEmail,
		EnrollmentGrace:      time.Duration(p.EnrollmentGrace), EnrollmentGraceSignIns: p.EnrollmentGraceSignIns,
	}, err
}

func (g Group) toGroup() directory.Group {
	return directory.Group{Name: g.Name, Policy: noneToEmpty(g.Policy)}
}

func (c Client) toSpec() directory.ClientSpec {
	return directory.ClientSpec{
		ID: c.ID, Name: c.Name, Secret: c.Secret, RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes,
		SkipConsent: c.SkipConsent, Policy: noneToEmpty(c.Policy),
		AccessTokenType: c.AccessTokenType, IDTokenAlg: c.IDTokenSignedResponseAlg, JWKS: c.JWKS,
		AllowedScopes: c.AllowedScopes, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
	}
}

func (u User) toNewUser() directory.NewUser {
	return directory.NewUser{
		Username: u.Username, Email: u.Email, Password: u.Password, PasswordHash: u.PasswordHash,
		Groups: u.Groups, Admin: u.Admin,
	}
}

// noneToEmpty: "none" names the built-in policy that requires nothing, which the domain spells "".
func noneToEmpty(p string) string {
	if p == PolicyNone {
		return ""
	}
	return p
}
