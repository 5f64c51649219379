package app

import (
	"fmt"
	"testing"
)

func TestScratch(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(t, maria)
	for _, p := range []string{"/inbox", "/inbox?all=1", "/messages/new"} {
		r := c.get(t, p)
		fmt.Println("=====", p, r.Status, r.Header)
		fmt.Println(r.Body)
	}
	l := e.msg(t, maria, subjLab, "")
	r := c.hx().get(t, fmt.Sprintf("/messages/%d", l.ID))
	fmt.Println("=====", r.Status, r.Header)
	fmt.Println(r.Body)
	r = c.hx().get(t, fmt.Sprintf("/messages/%d/reply", l.ID))
	fmt.Println("=====", r.Status, r.Header)
	fmt.Println(r.Body)
}
