package main

import (
	"errors"
	"fmt"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage"
)

// explainManaged adds to a refusal to change an object the configuration file manages where in the file it
// is (policies[0]), when the file given with --config declares it.
func (a *app) explainManaged(err error) error {
	var me *directory.ManagedError
	if !errors.As(err, &me) || me.ManagedBy != directory.ManagedByConfig || me.Removed {
		return err
	}
	path := a.keyPath(me.Kind, me.Name)
	if path == "" {
		return fmt.Errorf("%w (the file given with --config does not declare it: is it the server's?)", err)
	}
	if me.Name == "" {
		return fmt.Errorf("the %s is managed by the configuration file (%s); change it there", me.Kind, path)
	}
	return fmt.Errorf("%s %q is managed by the configuration file (%s); change it there", me.Kind, me.Name, path)
}

// keyPath finds the object in the loaded configuration ("" when it is not there).
func (a *app) keyPath(kind, name string) string {
	c := a.cfg
	switch kind {
	case "policy":
		for i, p := range c.Policies {
			if p.Name == name {
				return fmt.Sprintf("policies[%d]", i)
			}
		}
	case "group":
		for i, g := range c.Groups {
			if g.Name == name {
				return fmt.Sprintf("groups[%d]", i)
			}
		}
	case "client":
		for i, cl := range c.Clients {
			if cl.ID == name {
				return fmt.Sprintf("clients[%d]", i)
			}
		}
	case "user":
		for i, u := range c.Users {
			if storage.NormalizeUsername(u.Username) == storage.NormalizeUsername(name) {
				return fmt.Sprintf("users[%d]", i)
			}
		}
	case "default policy":
		if c.DefaultPolicy != "" {
			return "default_policy"
		}
	}
	return ""
}

// sourceColumn is what the lists show under MANAGED BY.
func sourceColumn(managedBy string) string {
	switch managedBy {
	case directory.ManagedByConfig:
		return "config file"
	case directory.ManagedByDemo:
		return "serve --demo"
	}
	return "database"
}
