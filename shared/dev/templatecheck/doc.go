// Package templatecheck holds the tests that make template.yaml prove
// itself: every SPEC route exactly once, behind the JWT authorizer, on a
// function folder with a main.go; the usage cache's TTL; the refresh
// schedule; cfn-lint clean. The IAM policies are checked against the calls
// the functions really make in shared/rie's TestFunctions.
package templatecheck
